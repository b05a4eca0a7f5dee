/** A debouncer that merges what it was asked to do: a restart wins over an update. */
import type { ChangeKind } from './settings';

export class ChangeDebouncer {
    private pending: ChangeKind = 'none';
    private timer: ReturnType<typeof setTimeout> | undefined;

    constructor(
        private readonly delayMs: number,
        private readonly run: (kind: Exclude<ChangeKind, 'none'>) => void | Promise<void>,
        private readonly schedule: (fn: () => void, ms: number) => ReturnType<typeof setTimeout> = setTimeout,
        private readonly cancel: (t: ReturnType<typeof setTimeout>) => void = clearTimeout,
    ) {}

    push(kind: ChangeKind): void {
        if (kind === 'none') {
            return;
        }
        if (kind === 'restart' || this.pending === 'none') {
            this.pending = kind;
        }
        if (this.timer !== undefined) {
            this.cancel(this.timer);
        }
        this.timer = this.schedule(() => {
            const k = this.pending;
            this.pending = 'none';
            this.timer = undefined;
            if (k !== 'none') {
                void this.run(k);
            }
        }, this.delayMs);
    }

    dispose(): void {
        if (this.timer !== undefined) {
            this.cancel(this.timer);
        }
        this.timer = undefined;
        this.pending = 'none';
    }
}
