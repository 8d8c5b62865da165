import { SlashCommandBuilder } from 'discord.js';

/** `/isolate node:<name|instance id> | pod:<namespace/pod> reason:<text> [release]` */
export const isolateCommand = new SlashCommandBuilder()
  .setName('isolate')
  .setDescription('Isolate a node (security groups, standby, snapshots) or a pod (deny-all NetworkPolicy); plan first')
  .setDMPermission(false)
  .addStringOption((o) => o.setName('reason').setDescription('Why (recorded in the audit log)').setRequired(true).setMaxLength(500))
  .addStringOption((o) => o.setName('node').setDescription('Node name, private DNS name, instance id or aws:/// provider id').setMaxLength(255))
  .addStringOption((o) => o.setName('pod').setDescription('namespace/pod').setMaxLength(317))
  .addBooleanOption((o) => o.setName('release').setDescription('Undo an isolation sentinel made'));
