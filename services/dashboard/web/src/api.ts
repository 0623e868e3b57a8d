// The desk's JSON API as typed calls. Owns the CSRF token of the signed-in session and turns every
// 4xx/5xx answer (an ApiError body, or whatever a proxy sent) into one exception type.
import type {
  AlertLabel,
  AlertsPage,
  ApiError,
  LabelValue,
  BacktestJob,
  ComparedTrade,
  Overview,
  RuleDefinition,
  RuleView,
  SessionInfo,
  UserView,
} from '../../src/api-types.ts';

/** A request the server answered with a status >= 400, or that never got an answer (status 0). */
export class ApiRequestError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiRequestError';
    this.status = status;
    this.code = code;
  }
}

export const isUnauthorized = (err: unknown): boolean => err instanceof ApiRequestError && err.status === 401;

export interface AlertsQuery {
  limit: number;
  userId?: string;
  label?: string;
  gameServerId?: string;
  minAmount?: number;
  maxAmount?: number;
}

export interface DeskApi {
  /** The current session, or null when the browser is not signed in (401). */
  getSession(): Promise<SessionInfo | null>;
  signIn(name: string, token: string): Promise<SessionInfo>;
  signOut(): Promise<void>;
  listAlerts(query: AlertsQuery): Promise<AlertsPage>;
  getUser(userId: string): Promise<UserView>;
  addLabel(alertId: string, label: LabelValue, note: string): Promise<AlertLabel>;
  getOverview(): Promise<Overview>;
  /** Admins: the rules with every version (GET /api/rules). */
  listRules(): Promise<RuleView[]>;
  /** Admins: a new version from a definition without version, author, createdAt. */
  putRule(ruleId: string, draft: unknown): Promise<RuleDefinition>;
  /** Admins: a new version of `version` (default the newest) in another mode. */
  changeRuleMode(
    ruleId: string,
    action: 'activate' | 'shadow' | 'disable',
    body: { reason: string; version?: number; effectiveFrom?: number },
  ): Promise<RuleDefinition>;
  compareRule(ruleId: string, limit: number): Promise<ComparedTrade[]>;
  startBacktest(rule: unknown, from: number, to: number): Promise<BacktestJob>;
  getBacktest(id: string): Promise<BacktestJob>;
}

const isApiError = (v: unknown): v is ApiError =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as ApiError).error === 'string' &&
  typeof (v as ApiError).message === 'string';

/** `fetchImpl` is a parameter so that the client can be driven without a server. */
export const createDeskApi = (fetchImpl: typeof fetch = (...args) => fetch(...args)): DeskApi => {
  let csrfToken: string | null = null;

  const request = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (method !== 'GET' && csrfToken !== null) headers['x-csrf-token'] = csrfToken;
    let res: Response;
    try {
      res = await fetchImpl(path, {
        method,
        headers,
        credentials: 'same-origin',
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new ApiRequestError(0, 'NETWORK', `the desk server did not answer (${String(err)})`);
    }
    if (!res.ok) {
      let payload: unknown = null;
      try {
        payload = await res.json();
      } catch {
        // not JSON (a proxy's error page): the status line has to do
      }
      if (isApiError(payload)) throw new ApiRequestError(res.status, payload.error, payload.message);
      throw new ApiRequestError(res.status, `HTTP_${res.status}`, `${res.status} ${res.statusText}`.trim());
    }
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  };

  const remember = (session: SessionInfo): SessionInfo => {
    csrfToken = session.csrfToken;
    return session;
  };

  return {
    async getSession() {
      try {
        return remember(await request<SessionInfo>('GET', '/api/session'));
      } catch (err) {
        if (isUnauthorized(err)) {
          csrfToken = null;
          return null;
        }
        throw err;
      }
    },
    async signIn(name, token) {
      return remember(await request<SessionInfo>('POST', '/api/session', { name, token }));
    },
    async signOut() {
      try {
        await request<undefined>('DELETE', '/api/session');
      } finally {
        csrfToken = null;
      }
    },
    listAlerts(query) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(query)) {
        if (value !== undefined && value !== '') params.set(key, String(value));
      }
      return request<AlertsPage>('GET', `/api/alerts?${params.toString()}`);
    },
    getUser(userId) {
      return request<UserView>('GET', `/api/users/${encodeURIComponent(userId)}`);
    },
    addLabel(alertId, label, note) {
      return request<AlertLabel>('POST', `/api/alerts/${encodeURIComponent(alertId)}/labels`, {
        label,
        ...(note === '' ? {} : { note }),
      });
    },
    getOverview() {
      return request<Overview>('GET', '/api/overview');
    },
    async listRules() {
      return (await request<{ rules: RuleView[] }>('GET', '/api/rules')).rules;
    },
    putRule(ruleId, draft) {
      return request<RuleDefinition>('PUT', `/api/rules/${encodeURIComponent(ruleId)}`, draft);
    },
    changeRuleMode(ruleId, action, body) {
      return request<RuleDefinition>('POST', `/api/rules/${encodeURIComponent(ruleId)}/${action}`, body);
    },
    async compareRule(ruleId, limit) {
      return (
        await request<{ trades: ComparedTrade[] }>(
          'GET',
          `/api/rules/${encodeURIComponent(ruleId)}/comparison?limit=${limit}`,
        )
      ).trades;
    },
    startBacktest(rule, from, to) {
      return request<BacktestJob>('POST', '/api/backtests', { rule, from, to });
    },
    getBacktest(id) {
      return request<BacktestJob>('GET', `/api/backtests/${encodeURIComponent(id)}`);
    },
  };
};

/** One line for the analyst: the server's message, with the status when there was one. */
export const describeError = (err: unknown): string => {
  if (err instanceof ApiRequestError)
    return err.status === 0 ? err.message : `${err.message} (${err.status})`;
  return err instanceof Error ? err.message : String(err);
};
