// The desk's users and their roles, from `name:role:token,...` (a token may be given as
// sha256:<hex>, so the configuration need not hold it). Tokens are kept and compared as SHA-256
// digests in constant time; no token, nor any part of one, appears in an error or a log. Pure.
import { bearerToken, findByToken, isHashedSecret, secretDigest } from '@tradewatch/shared/secrets';
import type { Role } from './api-types.ts';

export const ROLES: readonly Role[] = ['viewer', 'analyst', 'admin'];

export interface DeskUser {
  name: string;
  role: Role;
  digest: Buffer;
}

/** What each role may do; a role includes the rights of those before it in ROLES. */
export const can = (role: Role, action: 'read' | 'label' | 'manage_rules'): boolean =>
  action === 'read' || (action === 'label' ? role !== 'viewer' : role === 'admin');

export const DEMO_USERS =
  'demo-viewer:viewer:demo-viewer-token,demo-analyst:analyst:demo-analyst-token,demo-admin:admin:demo-admin-token';

const NAME = /^[A-Za-z0-9._@-]{1,64}$/;

export const parseUsers = (text: string): DeskUser[] => {
  const users = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry, i): DeskUser => {
      const first = entry.indexOf(':');
      const second = first < 0 ? -1 : entry.indexOf(':', first + 1);
      const name = entry.slice(0, Math.max(first, 0));
      const role = entry.slice(first + 1, second);
      const secret = second < 0 ? '' : entry.slice(second + 1);
      if (first <= 0 || second < 0 || secret === '') {
        throw new Error(`entry ${i + 1} must be name:role:token`);
      }
      if (!NAME.test(name)) throw new Error(`entry ${i + 1}: a name is 1-64 of A-Z a-z 0-9 . _ @ -`);
      if (!(ROLES as readonly string[]).includes(role)) {
        throw new Error(`entry ${i + 1} (${name}): role must be one of ${ROLES.join(', ')}`);
      }
      if (!isHashedSecret(secret) && secret.length < 8)
        throw new Error(`entry ${i + 1} (${name}): a token has at least 8 characters`);
      return { name, role: role as Role, digest: secretDigest(secret) };
    });
  if (users.length === 0) throw new Error('no users given');
  const names = new Set<string>();
  const digests = new Set<string>();
  for (const u of users) {
    if (names.has(u.name)) throw new Error(`user ${u.name} is listed twice`);
    const hex = u.digest.toString('hex');
    if (digests.has(hex)) throw new Error(`user ${u.name} has the same token as another user`);
    names.add(u.name);
    digests.add(hex);
  }
  return users;
};

/** The user a token belongs to (and, when given, of that name), or undefined; every entry is compared. */
export const authenticateToken = (
  users: readonly DeskUser[],
  token: string,
  name?: string,
): DeskUser | undefined => {
  if (token.length === 0 || token.length > 512) return undefined;
  const found = findByToken(users, token);
  return found !== undefined && (name === undefined || found.name === name) ? found : undefined;
};

/** The user of an `Authorization: Bearer <token>` header, or undefined. */
export const authenticateBearer = (
  users: readonly DeskUser[],
  header: string | undefined,
): DeskUser | undefined => {
  const token = bearerToken(header);
  return token === undefined ? undefined : authenticateToken(users, token);
};
