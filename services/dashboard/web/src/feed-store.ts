// The alerts the feed holds: each alertId once, newest first (by detectedAt), at most `max` of
// them. Pure (no I/O, no React): the feed hook feeds it batches and renders `list`, a new array
// after every change and the same array otherwise.
import type { AlertLabel, DeskAlert } from '../../src/api-types.ts';

export const MAX_FEED_ALERTS = 20_000;

const sameLabel = (a: AlertLabel, b: AlertLabel): boolean =>
  a.labelledAt === b.labelledAt && a.author === b.author && a.label === b.label && a.note === b.note;

export class FeedStore {
  readonly max: number;
  #list: readonly DeskAlert[] = [];
  #byId = new Map<string, DeskAlert>();

  constructor(max = MAX_FEED_ALERTS) {
    this.max = max;
  }

  get list(): readonly DeskAlert[] {
    return this.#list;
  }

  get size(): number {
    return this.#list.length;
  }

  get(alertId: string): DeskAlert | undefined {
    return this.#byId.get(alertId);
  }

  ids(): string[] {
    return this.#list.map((a) => a.alertId);
  }

  clear(): void {
    this.#list = [];
    this.#byId = new Map();
  }

  /**
   * Adds alerts in any order; one already held is skipped, or with `replace` (a freshly read page of
   * history, whose labels are current) takes the held one's place. Returns whether anything changed.
   */
  addAlerts(alerts: readonly DeskAlert[], replace = false): boolean {
    const fresh: DeskAlert[] = [];
    const freshIds = new Set<string>();
    const replaced = new Map<string, DeskAlert>();
    for (const alert of alerts) {
      if (freshIds.has(alert.alertId)) continue;
      if (this.#byId.has(alert.alertId)) {
        if (replace) replaced.set(alert.alertId, alert);
        continue;
      }
      this.#byId.set(alert.alertId, alert);
      freshIds.add(alert.alertId);
      fresh.push(alert);
    }
    if (fresh.length === 0 && replaced.size === 0) return false;

    let held = this.#list;
    if (replaced.size > 0) {
      held = held.map((a) => replaced.get(a.alertId) ?? a);
      for (const [id, alert] of replaced) this.#byId.set(id, alert);
    }
    // Stable sort, then a merge of two newest-first lists; on equal times the new one goes on top.
    fresh.sort((a, b) => b.detectedAt - a.detectedAt);
    const merged: DeskAlert[] = new Array<DeskAlert>(held.length + fresh.length);
    let i = 0;
    let j = 0;
    let k = 0;
    while (i < fresh.length && j < held.length) {
      merged[k++] = fresh[i]!.detectedAt >= held[j]!.detectedAt ? fresh[i++]! : held[j++]!;
    }
    while (i < fresh.length) merged[k++] = fresh[i++]!;
    while (j < held.length) merged[k++] = held[j++]!;

    if (merged.length > this.max) {
      for (let n = this.max; n < merged.length; n++) this.#byId.delete(merged[n]!.alertId);
      merged.length = this.max;
    }
    this.#list = merged;
    return true;
  }

  /**
   * Puts each label first in its alert's labels (the newest label is the current one). A label
   * already there (the answer to our own POST, then the same label from the stream) is skipped, and
   * so is a label for an alert the feed does not hold. Returns whether anything changed.
   */
  addLabels(labels: readonly AlertLabel[]): boolean {
    const updated = new Map<string, DeskAlert>();
    for (const label of labels) {
      const alert = updated.get(label.alertId) ?? this.#byId.get(label.alertId);
      if (alert === undefined || alert.labels.some((l) => sameLabel(l, label))) continue;
      updated.set(label.alertId, { ...alert, labels: [label, ...alert.labels] });
    }
    if (updated.size === 0) return false;
    for (const [id, alert] of updated) this.#byId.set(id, alert);
    this.#list = this.#list.map((a) => updated.get(a.alertId) ?? a);
    return true;
  }

  /** Drops every alert `keep` says no to (an alert whose new label left the label filter). */
  retain(keep: (alert: DeskAlert) => boolean): boolean {
    const kept = this.#list.filter(keep);
    if (kept.length === this.#list.length) return false;
    for (const a of this.#list) if (!keep(a)) this.#byId.delete(a.alertId);
    this.#list = kept;
    return true;
  }
}

/** Prepends `label` to `labels` unless it is already there. */
export const withLabel = (labels: readonly AlertLabel[], label: AlertLabel): AlertLabel[] =>
  labels.some((l) => sameLabel(l, label)) ? [...labels] : [label, ...labels];
