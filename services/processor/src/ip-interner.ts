// Maps IP address strings to small integer ids and back, so that state stores 4 bytes per IP
// and compares IPs as integers. Shared by the partitions of one process: players' IPs repeat.
export class IpInterner {
  private readonly ids = new Map<string, number>();
  private readonly ips: string[] = [];

  intern(ip: string): number {
    let id = this.ids.get(ip);
    if (id === undefined) {
      id = this.ips.length;
      this.ips.push(ip);
      this.ids.set(ip, id);
    }
    return id;
  }

  lookup(id: number): string {
    const ip = this.ips[id];
    if (ip === undefined) throw new RangeError(`unknown ip id ${id}`);
    return ip;
  }

  get size(): number {
    return this.ips.length;
  }
}
