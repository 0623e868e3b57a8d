// Bearer-token authentication of game servers. Tokens are configured per server, in clear or as
// sha256:<hex> (the hex SHA-256 of the token, so that the configuration need not hold it); both
// are kept and compared as SHA-256 digests, in constant time, against every entry. A server may
// have several tokens (rotation); one token may not belong to two servers, nor be both a live and
// a sandbox token. A token written `serverId:sandbox:<token>` is a sandbox token: its events are
// validated and answered like live ones but never reach detection or the archive (ports.ts,
// IngestMode). No token, and no part of one, ever appears in an error message or a log. Pure: no
// I/O.
import { bearerToken, findByToken, secretDigest } from '@tradewatch/shared/secrets';
import type { Caller } from './ports.ts';

export interface TokenEntry {
  gameServerId: string;
  sandbox: boolean;
  digest: Buffer;
}

const SANDBOX = 'sandbox:';

/** Parses `serverId:token,serverId:sha256:<hex>,serverId:sandbox:token,...`. */
export const parseTokens = (text: string): TokenEntry[] => {
  const entries = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((pair) => {
      const i = pair.indexOf(':');
      const gameServerId = pair.slice(0, i);
      const rest = pair.slice(i + 1);
      const sandbox = rest.startsWith(SANDBOX);
      const secret = sandbox ? rest.slice(SANDBOX.length) : rest;
      if (i <= 0 || secret === '' || !/^[A-Za-z0-9._-]{1,64}$/.test(gameServerId)) {
        throw new Error(
          'each entry must be serverId:token or serverId:sandbox:token, with a serverId of A-Z a-z 0-9 . _ - (at most 64)',
        );
      }
      return { gameServerId, sandbox, digest: secretDigest(secret) };
    });
  if (entries.length === 0) throw new Error('no tokens given');
  const owners = new Map<string, TokenEntry>();
  for (const e of entries) {
    const hex = e.digest.toString('hex');
    const owner = owners.get(hex);
    if (owner !== undefined && owner.gameServerId !== e.gameServerId) {
      throw new Error(`servers ${owner.gameServerId} and ${e.gameServerId} have the same token`);
    }
    if (owner !== undefined && owner.sandbox !== e.sandbox) {
      throw new Error(`server ${e.gameServerId} has the same token as a live and as a sandbox token`);
    }
    owners.set(hex, e);
  }
  return entries;
};

/** Whether any token is a sandbox token (the gateway then needs its sandbox topic). */
export const hasSandboxTokens = (tokens: readonly TokenEntry[]): boolean => tokens.some((t) => t.sandbox);

/** Who a bearer token belongs to, or undefined. Every entry is compared. */
export const authenticate = (
  tokens: readonly TokenEntry[],
  authorization: string | undefined,
): Caller | undefined => {
  const token = bearerToken(authorization);
  const found = token === undefined ? undefined : findByToken(tokens, token);
  return found === undefined
    ? undefined
    : { gameServerId: found.gameServerId, mode: found.sandbox ? 'sandbox' : 'live' };
};
