import { SlashCommandBuilder } from 'discord.js';

/** `/evidence collect …`, `/evidence logs …`, `/evidence capture …` and `/evidence show incident:<id>` */
export const evidenceCommand = new SlashCommandBuilder()
  .setName('evidence')
  .setDescription('Collect a file, logs or traffic from a pod into the evidence store, or show an incident’s evidence')
  .setDMPermission(false)
  .addSubcommand((s) =>
    s
      .setName('collect')
      .setDescription('Copy a file out of a pod (read-only) with its SHA-256')
      .addStringOption((o) => o.setName('namespace').setDescription('Namespace').setRequired(true).setMaxLength(63))
      .addStringOption((o) => o.setName('pod').setDescription('Pod').setRequired(true).setMaxLength(253))
      .addStringOption((o) => o.setName('path').setDescription('Absolute path in the container').setRequired(true).setMaxLength(4096))
      .addStringOption((o) => o.setName('container').setDescription('Container (default: the pod’s only or default container)').setMaxLength(253)),
  )
  .addSubcommand((s) =>
    s
      .setName('logs')
      .setDescription('Copy a pod’s container logs (current, and previous with previous) with their SHA-256')
      .addStringOption((o) => o.setName('namespace').setDescription('Namespace').setRequired(true).setMaxLength(63))
      .addStringOption((o) => o.setName('pod').setDescription('Pod').setRequired(true).setMaxLength(253))
      .addStringOption((o) => o.setName('container').setDescription('Container (default: every container of the pod)').setMaxLength(63))
      .addBooleanOption((o) => o.setName('previous').setDescription('Also the log of the previous (restarted) instance'))
      .addIntegerOption((o) => o.setName('tail').setDescription('Only the last N lines of each log').setMinValue(1).setMaxValue(1_000_000)),
  )
  .addSubcommand((s) =>
    s
      .setName('capture')
      .setDescription('Capture a pod’s traffic with a bounded tcpdump in a debug container, to a pcap with its SHA-256')
      .addStringOption((o) => o.setName('namespace').setDescription('Namespace').setRequired(true).setMaxLength(63))
      .addStringOption((o) => o.setName('pod').setDescription('Pod').setRequired(true).setMaxLength(253))
      .addIntegerOption((o) => o.setName('seconds').setDescription('Stop after this many seconds (default 30)').setMinValue(1).setMaxValue(300))
      .addIntegerOption((o) => o.setName('packets').setDescription('Stop after this many packets (default 1000)').setMinValue(1).setMaxValue(100_000))
      .addStringOption((o) => o.setName('host').setDescription('Only packets to or from this IP address').setMaxLength(45))
      .addIntegerOption((o) => o.setName('port').setDescription('Only packets to or from this port').setMinValue(1).setMaxValue(65535)),
  )
  .addSubcommand((s) =>
    s
      .setName('show')
      .setDescription('Show the evidence manifest of an incident')
      .addStringOption((o) => o.setName('incident').setDescription('Incident id').setRequired(true).setMaxLength(128)),
  );
