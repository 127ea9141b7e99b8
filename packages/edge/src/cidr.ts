import { BlockList, isIP } from 'node:net';

/** A parsed CIDR (`10.0.0.0/8`, `::1/128`; a bare address = /32 or /128). */
export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

export function parseCidr(s: string): Cidr | undefined {
  const [address = '', prefixText, ...rest] = s.trim().split('/');
  if (rest.length) return undefined;
  const v = isIP(address);
  if (v === 0) return undefined;
  const max = v === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (prefixText !== undefined && !/^\d+$/.test(prefixText)))
    return undefined;
  return { address, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

/** An address matcher compiled from CIDRs. IPv4-mapped IPv6 client addresses match IPv4 entries. */
export class Acl {
  readonly #list = new BlockList();
  readonly size: number;

  constructor(cidrs: readonly string[]) {
    for (const s of cidrs) {
      const c = parseCidr(s);
      if (c) this.#list.addSubnet(c.address, c.prefix, c.family);
    }
    this.size = cidrs.length;
  }

  allows(ip: string | undefined): boolean {
    if (!ip || this.size === 0) return false;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
    const addr = mapped ? mapped[1]! : ip;
    const family = isIP(addr) === 4 ? 'ipv4' : 'ipv6';
    return this.#list.check(addr, family);
  }
}
