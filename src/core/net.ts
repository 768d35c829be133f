/**
 * The key a client address is counted under by every per-address limit: an IPv4 address as
 * it is (IPv4-mapped IPv6 included), an IPv6 address by its /64, the block one host is
 * usually given, so rotating through its own addresses does not make a client many clients.
 */
export function addressKey(address: string): string {
  const lower = address.toLowerCase();
  if (!lower.includes(':')) return `ip:${lower}`;
  if (lower.startsWith('::ffff:') && lower.includes('.')) return `ip:${lower.slice(7)}`;
  return `ip6:${expandIpv6(lower).slice(0, 4).join(':')}`;
}

/** The eight groups of an IPv6 address, without leading zeros (a zone index is dropped). */
function expandIpv6(address: string): string[] {
  const [head = '', tail] = address.split('%')[0]!.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0');
  return [...left, ...fill, ...right].map((group) => group.replace(/^0+(?=.)/, ''));
}
