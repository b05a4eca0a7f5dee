/**
 * A tiny stand-in for the `vscode` module, enough for the unit tests of the vscode layer
 * (quick pick flow, status bar). Bundled in place of `vscode` by `esbuild.mjs --tests`.
 */
type Listener<T> = (e: T) => unknown;

export class EventEmitter<T> {
    private listeners: Listener<T>[] = [];
    event = (l: Listener<T>) => {
        this.listeners.push(l);
        return { dispose: () => (this.listeners = this.listeners.filter((x) => x !== l)) };
    };
    fire(e: T): void {
        for (const l of [...this.listeners]) {
            l(e);
        }
    }
    dispose(): void {
        this.listeners = [];
    }
}

export class ThemeColor {
    constructor(readonly id: string) {}
}
export class ThemeIcon {
    constructor(
        readonly id: string,
        readonly color?: ThemeColor,
    ) {}
}
export class MarkdownString {
    supportThemeIcons = false;
    constructor(readonly value = '') {}
}
export enum StatusBarAlignment {
    Left = 1,
    Right = 2,
}

export const QuickInputButtons = { Back: { iconPath: 'back' } };

export class FakeQuickPick<T extends { label: string }> {
    title?: string;
    step?: number;
    totalSteps?: number;
    placeholder?: string;
    ignoreFocusOut = false;
    matchOnDescription = false;
    matchOnDetail = false;
    buttons: unknown[] = [];
    busy = false;
    enabled = true;
    items: T[] = [];
    activeItems: T[] = [];
    selectedItems: T[] = [];
    value = '';
    visible = false;
    disposed = false;
    readonly accept = new EventEmitter<void>();
    readonly hide_ = new EventEmitter<void>();
    readonly button = new EventEmitter<unknown>();
    readonly valueChange = new EventEmitter<string>();
    onDidAccept = this.accept.event;
    onDidHide = this.hide_.event;
    onDidTriggerButton = this.button.event;
    onDidChangeValue = this.valueChange.event;
    show(): void {
        this.visible = true;
        window.shown.fire(this as unknown as FakeQuickPick<{ label: string }>);
    }
    hide(): void {
        if (this.visible) {
            this.visible = false;
            this.hide_.fire();
        }
    }
    dispose(): void {
        this.disposed = true;
    }
    // Test helpers: what a person does.
    type(text: string): void {
        this.value = text;
        this.valueChange.fire(text);
    }
    choose(label: string): void {
        const item = this.items.find((i) => i.label === label || i.label.endsWith(` ${label}`));
        if (!item) {
            throw new Error(`no item ${label} in ${this.items.map((i) => i.label).join(', ')}`);
        }
        this.selectedItems = [item];
        this.accept.fire();
    }
}

export class FakeStatusBarItem {
    text = '';
    name?: string;
    command?: string;
    tooltip?: MarkdownString | string;
    backgroundColor?: ThemeColor;
    accessibilityInformation?: { label: string };
    visible = false;
    constructor(
        readonly id: string,
        readonly alignment: StatusBarAlignment,
        readonly priority: number,
    ) {}
    show(): void {
        this.visible = true;
    }
    hide(): void {
        this.visible = false;
    }
    dispose(): void {
        this.visible = false;
    }
}

export const window = {
    shown: new EventEmitter<FakeQuickPick<{ label: string }>>(),
    statusBarItems: [] as FakeStatusBarItem[],
    createQuickPick<T extends { label: string }>(): FakeQuickPick<T> {
        return new FakeQuickPick<T>();
    },
    createStatusBarItem(id: string, alignment: StatusBarAlignment, priority: number): FakeStatusBarItem {
        const item = new FakeStatusBarItem(id, alignment, priority);
        window.statusBarItems.push(item);
        return item;
    },
};
