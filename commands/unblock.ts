import { SlashCommandBuilder } from 'discord.js';

/** `/unblock ip:<ip> [port]` or `/unblock block:<id>` (one block record, `<ip>/<network ACL id>/<rule number>`). */
export const unblockCommand = new SlashCommandBuilder()
  .setName('unblock')
  .setDescription('Remove the egress deny rules sentinel created for an IP, or one block by its id')
  .setDMPermission(false)
  .addStringOption((o) => o.setName('ip').setDescription('IPv4 or IPv6 address (or give block)').setMaxLength(45))
  .addIntegerOption((o) => o.setName('port').setDescription('Only the rule for this TCP port').setMinValue(1).setMaxValue(65535))
  .addStringOption((o) => o.setName('block').setDescription('One block by its id: <ip>/<network ACL id>/<rule number>').setMaxLength(200));
