import { SlashCommandBuilder } from 'discord.js';

/** `/unblock ip:<ip> [port]` or `/unblock block:<id>` (one block record: `<ip>/<network ACL id>/<rule number>`, or `<ip>/cilium|calico/<policy>`). */
export const unblockCommand = new SlashCommandBuilder()
  .setName('unblock')
  .setDescription('Remove the egress blocks (NACL rules, Cilium or Calico policies) sentinel made for an IP, or one')
  .setDMPermission(false)
  .addStringOption((o) => o.setName('ip').setDescription('IPv4 or IPv6 address (or give block)').setMaxLength(45))
  .addIntegerOption((o) => o.setName('port').setDescription('Only the rule for this TCP port').setMinValue(1).setMaxValue(65535))
  .addStringOption((o) => o.setName('block').setDescription('One block by its id, as reports show it: <ip>/<acl-…>/<rule> or <ip>/<cilium|calico>/<policy>').setMaxLength(200));
