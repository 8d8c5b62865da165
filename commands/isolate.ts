import { SlashCommandBuilder } from 'discord.js';

/** `/isolate node:<name|instance id> | pod:<namespace/pod> reason:<text> [release] [terminate [force] [grace]]` */
export const isolateCommand = new SlashCommandBuilder()
  .setName('isolate')
  .setDescription('Isolate a node or a pod (deny-all NetworkPolicy), or terminate a pod; plan first')
  .setDMPermission(false)
  .addStringOption((o) => o.setName('reason').setDescription('Why (recorded in the audit log)').setRequired(true).setMaxLength(500))
  .addStringOption((o) => o.setName('node').setDescription('Node name, private DNS name, instance id or aws:/// provider id').setMaxLength(255))
  .addStringOption((o) => o.setName('pod').setDescription('namespace/pod').setMaxLength(317))
  .addBooleanOption((o) => o.setName('release').setDescription('Undo an isolation sentinel made'))
  .addBooleanOption((o) => o.setName('terminate').setDescription('With pod: terminate it instead (delete with a grace period; its controller replaces it)'))
  .addBooleanOption((o) => o.setName('force').setDescription('With terminate: also a pod no controller would recreate'))
  .addIntegerOption((o) => o.setName('grace').setDescription('With terminate: seconds the containers get to stop (default: the pod’s own)').setMinValue(1).setMaxValue(3600));
