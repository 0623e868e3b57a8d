// Every label ever given, by alert, newest first: the desk reads the whole labels topic into it
// at start-up and keeps it current, so a page of alerts carries its labels (even those the
// archive has not caught up with yet). Pure: no I/O.
import type { AlertLabel } from '@tradewatch/shared/labels';

const same = (a: AlertLabel, b: AlertLabel) =>
  a.labelledAt === b.labelledAt && a.author === b.author && a.label === b.label && a.note === b.note;

export class LabelIndex {
  private readonly byAlert = new Map<string, AlertLabel[]>();
  private total = 0;

  get size(): number {
    return this.total;
  }

  /** Adds a label; false if the same label is already there (a replayed record). */
  add(label: AlertLabel): boolean {
    let list = this.byAlert.get(label.alertId);
    if (list === undefined) {
      list = [];
      this.byAlert.set(label.alertId, list);
    }
    if (list.some((l) => same(l, label))) return false;
    let i = 0;
    while (i < list.length && list[i]!.labelledAt > label.labelledAt) i++;
    list.splice(i, 0, label);
    this.total++;
    return true;
  }

  /** The alert's labels, newest first (labels[0] is the one in force). */
  of(alertId: string): AlertLabel[] {
    return this.byAlert.get(alertId) ?? [];
  }

  /** Every alert id with a label. */
  labelledIds(): Set<string> {
    return new Set(this.byAlert.keys());
  }

  /** Alert ids whose label in force is `label`. */
  alertsLabelled(label: string): Set<string> {
    const out = new Set<string>();
    for (const [id, list] of this.byAlert) if (list[0]?.label === label) out.add(id);
    return out;
  }
}
