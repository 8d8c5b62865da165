import { ValidationError } from '../../errors.js';
import { webRootProblem } from './volatileCommands.js';

/**
 * The collect-disk script: what runs on the forensic instance to mount evidence volumes
 * read-only, collect, upload once and unmount. Pure text building, apart from the I/O of the
 * collect-disk action (src/pipeline/actions/collectFromDisk.ts), so it tests without backends.
 */

/** Device names evidence volumes are attached at, in order of preference. */
export const DEVICE_NAMES = ['/dev/sdf', '/dev/sdg', '/dev/sdh', '/dev/sdi', '/dev/sdj', '/dev/sdk', '/dev/sdl', '/dev/sdm', '/dev/sdn', '/dev/sdo', '/dev/sdp'] as const;

const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
const VOLUME_ID = /^vol-[0-9a-f]{8,17}$/;
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;
/** S3 allows one PUT of at most 5 GiB: the bundle is uploaded with one conditional PUT. */
const MAX_BUNDLE_BYTES = 5 * 1024 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// The script run on the forensic instance. Fixed text; the header assigns only validated values.
// POSIX sh (AWS-RunShellScript runs it with sh); GNU find, tar, coreutils, util-linux, AWS CLI v2.
// ---------------------------------------------------------------------------------------------

/**
 * Shadow metadata without hashes: for each passwd entry the uid, gid, shell, the password state
 * (`set`, `locked` = hash behind `!`, `none` = `*`/`!` only, `empty` = no password at all,
 * `no-shadow-entry`) and the shadow last-change day. The hash never leaves awk.
 */
export const SHADOW_METADATA_AWK = [
  'BEGIN { FS = ":"; OFS = "\\t"; print "#user", "uid", "gid", "shell", "password", "lastchange_days" }',
  'FILENAME == ARGV[1] { if (NF < 2) next; pw = $2; st = "set"; if (pw == "") st = "empty"; else if (pw ~ /^[!*]+$/) st = "none"; else if (pw ~ /^[!*]/) st = "locked"; state[$1] = st; change[$1] = $3; next }',
  '/^#/ || NF < 7 { next }',
  '{ print $1, $3, $4, $7, (($1 in state) ? state[$1] : "no-shadow-entry"), (($1 in change) ? change[$1] : "") }',
].join('\n');

/** Shell text is written with `@{…}` for `${…}` (a template literal would read `${` itself). */
function shell(text: string): string {
  return text.replace(/@\{/g, '${');
}

/** Shell functions of the collection script (also run by the tests on a directory tree). */
export const COLLECT_FUNCTIONS = shell(String.raw`
LISTING_FORMAT='%T@\t%y\t%M\t%U\t%G\t%s\t/%p\t%l\n'
LOG_PATHS='var/log'
CONF_PATHS='etc/crontab etc/anacrontab etc/cron.d etc/cron.hourly etc/cron.daily etc/cron.weekly etc/cron.monthly var/spool/cron etc/systemd/system etc/init.d etc/rc.local etc/rc.d/rc.local etc/profile etc/profile.d etc/bash.bashrc etc/bashrc etc/ld.so.preload etc/sudoers etc/sudoers.d etc/passwd etc/group'
UNIT_PATHS='usr/lib/systemd/system lib/systemd/system'
HOME_PATHS='root home'
TEMP_PATHS='tmp var/tmp dev/shm'

say() {
  printf 'sentinel: %s\n' "$*" >&2
  printf 'note=%s\n' "$*" >> "$OUT/manifest.txt"
}

# True when a path relative to the mounted root resolves inside it (an absolute symlink on the
# evidence volume would otherwise lead into the forensic instance's own files).
inside() {
  r=$(readlink -f -- "$R/$1" 2>/dev/null) || return 1
  case "$r" in "$R" | "$R"/*) return 0 ;; esac
  return 1
}

# The fixed start points of $1 that exist and whose parent resolves inside the volume, one a line.
present() {
  for p in $1; do
    if [ -e "$R/$p" ] || [ -L "$R/$p" ]; then
      if inside "$(dirname -- "$p")"; then printf '%s\n' "$p"; else say "volume $n: $p leads outside the volume; skipped"; fi
    fi
  done
}

# The block device of attached volume $1 requested at $2 (/dev/sdX): NVMe by-id (Nitro), then Xen names.
find_device() {
  id=$(printf '%s' "$1" | tr -d -)
  letter=@{2#/dev/sd}
  tries=0
  while [ "$tries" -lt 60 ]; do
    for c in "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_$id" "/dev/xvd$letter" "/dev/sd$letter"; do
      if [ -b "$c" ]; then readlink -f -- "$c"; return 0; fi
    done
    tries=$((tries + 1))
    sleep 2
  done
  return 1
}

# The largest ext2/3/4 or xfs file system on block device $1, as "partition type".
pick_fs() {
  best=''
  best_type=''
  best_size=0
  for p in $(lsblk -nrpo NAME "$1"); do
    t=$(blkid -p -o value -s TYPE "$p" 2>/dev/null || true)
    case "$t" in ext2 | ext3 | ext4 | xfs) ;; *) continue ;; esac
    s=$(lsblk -bdnro SIZE "$p" 2>/dev/null || echo 0)
    if [ "$s" -gt "$best_size" ]; then best=$p; best_type=$t; best_size=$s; fi
  done
  [ -n "$best" ] && printf '%s %s\n' "$best" "$best_type"
}

# Reports and the list of files to copy for the file system mounted at $R, into $O.
collect_volume() {
  mkdir -p "$O"
  : > "$O/listing.tsv"
  : > "$O/weblisting.tsv"
  : > "$O/webhashes.sha256"
  : > "$O/errors.txt"
  starts=$(present "$LOG_PATHS $CONF_PATHS $UNIT_PATHS")
  [ -z "$starts" ] || (cd "$R" && find $starts -xdev -printf "$LISTING_FORMAT") >> "$O/listing.tsv" 2>> "$O/errors.txt"
  starts=$(present "$HOME_PATHS")
  [ -z "$starts" ] || (cd "$R" && find $starts -xdev -maxdepth 3 -printf "$LISTING_FORMAT") >> "$O/listing.tsv" 2>> "$O/errors.txt"
  starts=$(present "$TEMP_PATHS")
  [ -z "$starts" ] || (cd "$R" && find $starts -xdev -maxdepth 4 -printf "$LISTING_FORMAT") >> "$O/listing.tsv" 2>> "$O/errors.txt"

  shadow_file=/dev/null
  passwd_file=/dev/null
  if [ -f "$R/etc/shadow" ] && inside etc/shadow; then shadow_file="$R/etc/shadow"; fi
  if [ -f "$R/etc/passwd" ] && inside etc/passwd; then passwd_file="$R/etc/passwd"; fi
  awk "$SHADOW_AWK" "$shadow_file" "$passwd_file" > "$O/accounts.tsv" 2>> "$O/errors.txt"

  for w in $WEBROOTS; do
    rel=@{w#/}
    if [ ! -d "$R/$rel" ]; then say "volume $n: no web root $w"; continue; fi
    if ! inside "$rel"; then say "volume $n: web root $w leads outside the volume; skipped"; continue; fi
    (cd "$R" && find "$rel" -xdev -printf "$LISTING_FORMAT") >> "$O/weblisting.tsv" 2>> "$O/errors.txt"
    (cd "$R" && find "$rel" -xdev -type f -size -"$MAX_FILE_KB"k -exec sha256sum -- {} +) >> "$O/webhashes.sha256" 2>> "$O/errors.txt"
  done

  list="$STAGE/files.$n"
  : > "$list"
  starts=$(present "$LOG_PATHS $CONF_PATHS")
  [ -z "$starts" ] || (cd "$R" && find $starts -xdev \( -type l -o -type f -size -"$MAX_FILE_KB"k \) ! -path 'etc/shadow*' ! -path 'etc/gshadow*' -print0) >> "$list" 2>> "$O/errors.txt"
  starts=$(present "root home var/www")
  [ -z "$starts" ] || (cd "$R" && find $starts -xdev -maxdepth 3 \( -name '.*history' -o -name .bashrc -o -name .profile -o -name .bash_profile -o -name .bash_login -o -path '*/.ssh/authorized_keys*' \) \( -type l -o -type f -size -"$MAX_FILE_KB"k \) -print0) >> "$list" 2>> "$O/errors.txt"
  for w in $WEBROOTS; do
    rel=@{w#/}
    if [ -d "$R/$rel" ] && inside "$rel"; then
      (cd "$R" && find "$rel" -xdev -type f -path '*/uploads/*' \( -iname '*.php*' -o -iname '*.phtml' -o -iname '*.phar' -o -iname '*.jsp*' -o -iname '*.asp*' -o -iname '*.cgi' \) -size -1024k -print0) >> "$list" 2>> "$O/errors.txt"
    fi
  done
}

# Adds the copied files of volume $1 (mounted at $2) to the bundle: links stay links, never followed.
add_volume_files() {
  [ -s "$STAGE/files.$1" ] || return 0
  tar -rf "$STAGE/bundle.tar" -C "$2" --null --no-recursion --transform "s,^,volumes/$1/fs/,S" -T "$STAGE/files.$1" 2>> "$OUT/volumes/$1/errors.txt"
  [ $? -le 1 ]
}
`);

/** The main part: mount each volume read-only, collect, pack, upload once, unmount (also on failure). */
export const COLLECT_MAIN = shell(String.raw`
MNT_BASE="/mnt/sentinel/$INCIDENT"
STAGE="/var/tmp/sentinel/$INCIDENT"
OUT="$STAGE/bundle"
MOUNTED=''

cleanup() {
  for m in $MOUNTED; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || printf 'sentinel: cannot unmount %s\n' "$m" >&2; done
  MOUNTED=''
  rmdir "$MNT_BASE"/* "$MNT_BASE" 2>/dev/null
  rm -rf "$STAGE"
}

rm -rf "$STAGE"
mkdir -p "$OUT/volumes" || { echo 'sentinel: cannot create the staging directory' >&2; exit 2; }
trap cleanup EXIT
trap 'exit 143' TERM INT HUP
{
  echo 'sentinel-collect-disk 1'
  echo "incident=$INCIDENT"
  echo "instance=$SOURCE_INSTANCE"
  echo "started=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  for w in $WEBROOTS; do echo "webroot=$w"; done
} > "$OUT/manifest.txt"

COLLECTED=''
for spec in $VOLUMES; do
  n=@{spec%%:*}
  rest=@{spec#*:}
  vol=@{rest%%:*}
  dev=@{rest#*:}
  echo "volume.$n=$vol:$dev" >> "$OUT/manifest.txt"
  blk=$(find_device "$vol" "$dev") || { say "volume $n ($vol): no block device appeared for $dev"; printf 'SENTINEL-VOLUME n=%s volume=%s status=no-device\n' "$n" "$vol"; continue; }
  fs=$(pick_fs "$blk") || fs=''
  if [ -z "$fs" ]; then say "volume $n ($vol): no ext2/3/4 or xfs file system on $blk"; printf 'SENTINEL-VOLUME n=%s volume=%s device=%s status=no-filesystem\n' "$n" "$vol" "$blk"; continue; fi
  part=@{fs% *}
  fstype=@{fs#* }
  mp="$MNT_BASE/$n"
  mkdir -p "$mp"
  blockdev --setro "$blk" 2>/dev/null || true
  blockdev --setro "$part" 2>/dev/null || true
  case "$fstype" in
    xfs) opts='ro,norecovery,nouuid,nosuid,nodev,noexec' ;;
    *) opts='ro,noload,nosuid,nodev,noexec' ;;
  esac
  if ! mount -t "$fstype" -o "$opts" "$part" "$mp"; then
    say "volume $n ($vol): mounting $part ($fstype) read-only failed"
    printf 'SENTINEL-VOLUME n=%s volume=%s device=%s fstype=%s status=mount-failed\n' "$n" "$vol" "$part" "$fstype"
    continue
  fi
  MOUNTED="$mp $MOUNTED"
  echo "mount.$n=$part:$fstype:$mp" >> "$OUT/manifest.txt"
  R="$mp"
  O="$OUT/volumes/$n"
  collect_volume
  COLLECTED="$COLLECTED $n"
  printf 'SENTINEL-VOLUME n=%s volume=%s device=%s fstype=%s status=collected\n' "$n" "$vol" "$part" "$fstype"
done
[ -n "$COLLECTED" ] || { echo 'sentinel: no volume could be mounted' >&2; exit 4; }

echo "finished=$(date -u +%Y-%m-%dT%H:%M:%SZ)" >> "$OUT/manifest.txt"
(cd "$OUT" && tar -cf "$STAGE/bundle.tar" manifest.txt volumes) || { echo 'sentinel: packing the reports failed' >&2; exit 5; }
for n in $COLLECTED; do
  add_volume_files "$n" "$MNT_BASE/$n" || { echo "sentinel: packing the files of volume $n failed" >&2; exit 5; }
done
for m in $MOUNTED; do umount "$m" || umount -l "$m"; done
MOUNTED=''
rmdir "$MNT_BASE"/* "$MNT_BASE" 2>/dev/null
gzip -n "$STAGE/bundle.tar" || { echo 'sentinel: compressing the bundle failed' >&2; exit 5; }
B="$STAGE/bundle.tar.gz"
SHA=$(sha256sum "$B" | cut -d' ' -f1)
SIZE=$(wc -c < "$B" | tr -d ' ')
[ "$SIZE" -le "$MAX_BUNDLE_BYTES" ] || { echo "sentinel: the bundle is $SIZE bytes, over the single-upload limit of $MAX_BUNDLE_BYTES" >&2; exit 6; }
aws s3api put-object --region "$REGION" --bucket "$BUCKET" --key "$KEY" --body "$B" --if-none-match '*' --checksum-algorithm SHA256 --content-type application/gzip --metadata "sha256=$SHA,incident-id=$INCIDENT,instance-id=$SOURCE_INSTANCE,size=$SIZE" --output text --query ETag > /dev/null || { echo 'sentinel: uploading the bundle failed' >&2; exit 7; }
printf 'SENTINEL-RESULT sha256=%s size=%s key=%s\n' "$SHA" "$SIZE" "$KEY"
`);

export interface CollectScriptParams {
  incident: string;
  sourceInstanceId: string;
  bucket: string;
  key: string;
  region: string;
  /** In mount order: n (1-based), volume id, device name. */
  volumes: readonly { n: number; volumeId: string; device: string }[];
  webRoots: readonly string[];
  maxFileKiB: number;
}

function checked(name: string, value: string, ok: boolean): string {
  if (!ok) throw new ValidationError(`refusing to put ${name} ${JSON.stringify(value)} into the collection script`, { code: 'UnsafeScriptValue' });
  return value;
}

/**
 * The script's lines for AWS-RunShellScript: a header assigning each value (every one checked
 * against an allowlist again here, and single-quoted), then the fixed functions and main part.
 */
export function buildCollectScript(p: CollectScriptParams): string[] {
  const volumes = p.volumes.map((v) =>
    checked('volume', `${v.n}:${v.volumeId}:${v.device}`, Number.isInteger(v.n) && v.n >= 1 && v.n <= DEVICE_NAMES.length && VOLUME_ID.test(v.volumeId) && (DEVICE_NAMES as readonly string[]).includes(v.device)),
  );
  const header = [
    '# sentinel collect-disk: mount evidence volumes read-only, collect, upload once, unmount.',
    'set -u',
    'umask 077',
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'LC_ALL=C',
    'export PATH LC_ALL',
    `INCIDENT='${checked('incident', p.incident, /^[A-Za-z0-9_-]{1,64}$/.test(p.incident))}'`,
    `SOURCE_INSTANCE='${checked('instance id', p.sourceInstanceId, INSTANCE_ID.test(p.sourceInstanceId))}'`,
    `BUCKET='${checked('bucket', p.bucket, BUCKET.test(p.bucket))}'`,
    `KEY='${checked('key', p.key, /^[A-Za-z0-9._/-]{1,512}$/.test(p.key) && !p.key.split('/').some((s) => s === '..' || s === '.' || s === ''))}'`,
    `REGION='${checked('region', p.region, REGION.test(p.region))}'`,
    `VOLUMES='${volumes.join(' ')}'`,
    `WEBROOTS='${p.webRoots.map((w) => checked('web root', w, webRootProblem(w) === undefined)).join(' ')}'`,
    `MAX_FILE_KB=${checked('file size limit', String(p.maxFileKiB), Number.isSafeInteger(p.maxFileKiB) && p.maxFileKiB >= 1 && p.maxFileKiB <= 4 * 1024 * 1024)}`,
    `MAX_BUNDLE_BYTES=${MAX_BUNDLE_BYTES}`,
    `SHADOW_AWK='${SHADOW_METADATA_AWK}'`,
  ];
  return [...header, ...COLLECT_FUNCTIONS.trim().split('\n'), ...COLLECT_MAIN.trim().split('\n')];
}
