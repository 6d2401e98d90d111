/**
 * A one-line progress bar on stderr, only when stderr is a terminal (CI logs stay clean). Redraws at most
 * every `everyMs` so it costs nothing measurable.
 */
export class Progress {
  private last = 0;
  private readonly enabled: boolean;

  constructor(private readonly label: string, private readonly everyMs = 100) {
    this.enabled = Boolean(process.stderr.isTTY) && !process.env.CI;
  }

  update(done: number, total: number, detail = ''): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < this.everyMs) return;
    this.last = now;
    const frac = total > 0 ? Math.min(1, done / total) : 0;
    const width = 30;
    const fill = Math.round(frac * width);
    process.stderr.write(`\r${this.label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${(frac * 100).toFixed(0).padStart(3)}% ${detail}\x1b[K`);
  }

  done(): void {
    if (this.enabled && this.last) process.stderr.write('\r\x1b[K');
  }
}
