// The most flagged users (click: open the user) and game servers (click: filter the feed on it).
import type { Overview } from '../../src/api-types.ts';

interface TopRow {
  name: string;
  alerts: number;
}

/** One overview card: names with their alert counts, each name a button. */
function TopTable({
  title,
  rows,
  hint,
  onPick,
}: {
  title: string;
  rows: TopRow[];
  hint?: string;
  onPick: (name: string) => void;
}) {
  return (
    <section className="overview-card top-table">
      <h3>{title}</h3>
      <table>
        <tbody>
          {rows.map((r) => (
            <tr key={r.name}>
              <td>
                <button type="button" className="link" title={hint} onClick={() => onPick(r.name)}>
                  {r.name}
                </button>
              </td>
              <td className="num">{r.alerts}</td>
            </tr>
          ))}
          {rows.length === 0 && (
            <tr>
              <td className="muted">none yet</td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}

export function TopUsersTable({
  users,
  onOpenUser,
}: {
  users: Overview['topUsers'];
  onOpenUser: (userId: string) => void;
}) {
  return (
    <TopTable
      title="Top flagged users"
      rows={users.map((u) => ({ name: u.userId, alerts: u.alerts }))}
      onPick={onOpenUser}
    />
  );
}

export function TopGameServersTable({
  servers,
  onFilter,
}: {
  servers: Overview['topGameServers'];
  onFilter: (gameServerId: string) => void;
}) {
  return (
    <TopTable
      title="Top game servers"
      rows={servers.map((s) => ({ name: s.gameServerId, alerts: s.alerts }))}
      hint="show only this server's alerts"
      onPick={onFilter}
    />
  );
}
