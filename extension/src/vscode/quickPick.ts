/** The VS Code side of the multi-step quick pick (common/federateFlow.ts). */
import * as vscode from 'vscode';
import { BACK, type Back, type FlowUI, type PickItem, type PickStep } from '../common/federateFlow';

interface Item<T> extends vscode.QuickPickItem {
    value: T;
}

function toItem<T>(p: PickItem<T>): Item<T> {
    return { label: p.label, description: p.description, detail: p.detail, value: p.value };
}

export class VsCodeFlowUI implements FlowUI {
    pick<T>(step: PickStep<T>): Promise<T | Back | undefined> {
        return new Promise<T | Back | undefined>((resolve, reject) => {
            const qp = vscode.window.createQuickPick<Item<T>>();
            let settled = false;
            const disposables: vscode.Disposable[] = [];
            const finish = (value: T | Back | undefined, error?: unknown) => {
                if (settled) {
                    return;
                }
                settled = true;
                for (const d of disposables) {
                    d.dispose();
                }
                qp.hide();
                qp.dispose();
                if (error !== undefined) {
                    reject(error);
                } else {
                    resolve(value);
                }
            };
            qp.title = step.title;
            if (step.totalSteps > 1) {
                qp.step = step.step; // a one-step pick shows no "1/1"
                qp.totalSteps = step.totalSteps;
            }
            qp.placeholder = step.placeholder;
            qp.ignoreFocusOut = true;
            qp.matchOnDescription = true;
            qp.matchOnDetail = true;
            qp.buttons = step.canGoBack ? [vscode.QuickInputButtons.Back] : [];

            let base: Item<T>[] = [];
            let picked: Item<T>[] = [];
            const applyCustom = () => {
                const typed = qp.value.trim();
                const custom = step.custom && typed ? step.custom(typed) : undefined;
                const exact = base.some((i) => i.value === custom?.value || i.label === typed);
                qp.items = custom && !exact ? [toItem(custom), ...base] : base;
            };
            const setItems = (items: PickItem<T>[]) => {
                base = items.map(toItem);
                picked = base.filter((_, idx) => items[idx].picked);
                applyCustom();
                if (picked.length > 0 && !qp.value) {
                    qp.activeItems = picked;
                }
            };

            disposables.push(
                qp.onDidTriggerButton((b) => {
                    if (b === vscode.QuickInputButtons.Back) {
                        finish(BACK);
                    }
                }),
                qp.onDidAccept(() => {
                    const chosen = qp.selectedItems[0] ?? qp.activeItems[0];
                    if (chosen) {
                        finish(chosen.value);
                    }
                }),
                qp.onDidHide(() => finish(undefined)),
            );
            if (step.custom) {
                disposables.push(qp.onDidChangeValue(applyCustom));
            }

            if (Array.isArray(step.items)) {
                setItems(step.items);
            } else {
                qp.busy = true;
                qp.enabled = false;
                step.items.then(
                    (items) => {
                        qp.busy = false;
                        qp.enabled = true;
                        setItems(items);
                    },
                    (err) => finish(undefined, err),
                );
            }
            qp.show();
        });
    }
}
