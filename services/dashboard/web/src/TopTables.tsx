// The most flagged users (click: open the user) and game servers (click: filter the feed on it).
import type { Overview } from '../../src/api-types.ts';

export function TopUsersTable({
  users,
  onOpenUser,
}: {
  users: Overview['topUsers'];
  onOpenUser: (userId: string) => void;
}) {
  return (
    <section className="overview-card top-table">
      <h3>Top flagged users</h3>
      <table>
        <tbody>
          {users.map((u) => (
            <tr key={u.userId}>
              <td>
                <button type="button" className="link" onClick={() => onOpenUser(u.userId)}>
                  {u.userId}
                </button>
              </td>
              <td className="num">{u.alerts}</td>
            </tr>
          ))}
          {users.length === 0 && (
            <tr>
              <td className="muted">none yet</td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
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
    <section className="overview-card top-table">
      <h3>Top game servers</h3>
      <table>
        <tbody>
          {servers.map((s) => (
            <tr key={s.gameServerId}>
              <td>
                <button
                  type="button"
                  className="link"
                  title="show only this server's alerts"
                  onClick={() => onFilter(s.gameServerId)}
                >
                  {s.gameServerId}
                </button>
              </td>
              <td className="num">{s.alerts}</td>
            </tr>
          ))}
          {servers.length === 0 && (
            <tr>
              <td className="muted">none yet</td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}
