import net from 'node:net';
import path from 'node:path';
import type { Operator, OperatorFn } from './types.ts';

/** Addresses and CIDR ranges, IPv4 and IPv6, via node:net's BlockList. */
export function ipMatcher(entries: readonly string[]): OperatorFn {
  const list = new net.BlockList();
  for (const e of entries) {
    const [addr, bits] = e.split('/');
    const type = net.isIPv6(addr!) ? 'ipv6' : 'ipv4';
    if (!net.isIP(addr!)) throw new Error(`bad IP address "${e}"`);
    if (bits === undefined) list.addAddress(addr!, type);
    else list.addSubnet(addr!, Number(bits), type);
  }
  return (input) => {
    const t = net.isIP(input);
    if (t === 0) return false;
    return list.check(input, t === 6 ? 'ipv6' : 'ipv4');
  };
}

export const ipMatch: Operator = {
  name: 'ipMatch',
  compile: (param) => ipMatcher(param.split(/[ ,]+/).filter((x) => x !== '')),
};

export const ipMatchFromFile: Operator = {
  name: 'ipMatchFromFile',
  compile: (param, ctx) => {
    const text = ctx.readFile(path.resolve(ctx.dir, param.trim()));
    return ipMatcher(
      text
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !l.startsWith('#')),
    );
  },
};
