import { SlashCommandBuilder } from 'discord.js';

/** `/unblock ip:<ip> [port]` */
export const unblockCommand = new SlashCommandBuilder()
  .setName('unblock')
  .setDescription('Remove the egress deny rules sentinel created for an IP')
  .setDMPermission(false)
  .addStringOption((o) => o.setName('ip').setDescription('IPv4 or IPv6 address').setRequired(true).setMaxLength(45))
  .addIntegerOption((o) => o.setName('port').setDescription('Only the rule for this TCP port').setMinValue(1).setMaxValue(65535));
