// The feed's filter inputs. They edit the filters at once; the feed re-reads history once the
// typing has settled, and applies the same filters to live alerts.
import type { LabelValue } from '../../src/api-types.ts';
import { LABELS } from '../../src/api-types.ts';
import { hasFilters, NO_FILTERS, type FeedFilters as Filters, type LabelFilter } from './filters.ts';
import { LABEL_TEXT } from './format.ts';

const isLabelFilter = (v: string): v is LabelFilter =>
  v === '' || v === 'unlabelled' || (LABELS as readonly string[]).includes(v);

export function FeedFilters({
  filters,
  onChange,
  gameServers,
}: {
  filters: Filters;
  onChange: (filters: Filters) => void;
  /** Suggestions for the game-server input. */
  gameServers: readonly string[];
}) {
  const set = (patch: Partial<Filters>) => onChange({ ...filters, ...patch });
  return (
    <div className="feed-filters" role="search">
      <label>
        User
        <input
          data-testid="filter-user"
          placeholder="any user id"
          value={filters.userId}
          onChange={(e) => set({ userId: e.target.value })}
        />
      </label>
      <label>
        Game server
        <input
          data-testid="filter-game-server"
          placeholder="any"
          list="game-server-options"
          value={filters.gameServerId}
          onChange={(e) => set({ gameServerId: e.target.value })}
        />
        <datalist id="game-server-options">
          {gameServers.map((id) => (
            <option key={id} value={id} />
          ))}
        </datalist>
      </label>
      <label>
        Amount
        <span className="filter-range">
          <input
            data-testid="filter-min-amount"
            inputMode="decimal"
            placeholder="min"
            value={filters.minAmount}
            onChange={(e) => set({ minAmount: e.target.value })}
          />
          –
          <input
            data-testid="filter-max-amount"
            inputMode="decimal"
            placeholder="max"
            value={filters.maxAmount}
            onChange={(e) => set({ maxAmount: e.target.value })}
          />
        </span>
      </label>
      <label>
        Label
        <select
          data-testid="filter-label"
          value={filters.label}
          onChange={(e) => {
            if (isLabelFilter(e.target.value)) set({ label: e.target.value });
          }}
        >
          <option value="">any</option>
          <option value="unlabelled">unlabelled</option>
          {LABELS.map((l: LabelValue) => (
            <option key={l} value={l}>
              {LABEL_TEXT[l]}
            </option>
          ))}
        </select>
      </label>
      <button
        type="button"
        className="button-small"
        disabled={!hasFilters(filters)}
        onClick={() => onChange(NO_FILTERS)}
      >
        Clear
      </button>
    </div>
  );
}
