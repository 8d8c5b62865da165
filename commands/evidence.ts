import { SlashCommandBuilder } from 'discord.js';

/** `/evidence collect …` and `/evidence show incident:<id>` */
export const evidenceCommand = new SlashCommandBuilder()
  .setName('evidence')
  .setDescription('Collect a file from a pod into the evidence store, or show an incident’s evidence')
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
      .setName('show')
      .setDescription('Show the evidence manifest of an incident')
      .addStringOption((o) => o.setName('incident').setDescription('Incident id').setRequired(true).setMaxLength(128)),
  );
