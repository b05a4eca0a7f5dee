/**
 * Read-only documents for decoded and verified tokens. The token itself is never in the URI
 * (URIs end up in logs and history); a counter is.
 */
import * as vscode from 'vscode';

export const TOKEN_SCHEME = 'microstax-token';

export class TokenDocuments implements vscode.TextDocumentContentProvider, vscode.Disposable {
    private readonly contents = new Map<string, string>();
    private counter = 0;
    private readonly registration: vscode.Disposable;

    constructor() {
        this.registration = vscode.workspace.registerTextDocumentContentProvider(TOKEN_SCHEME, this);
    }

    provideTextDocumentContent(uri: vscode.Uri): string {
        return this.contents.get(uri.path) ?? '(This document is no longer available.)';
    }

    /** Opens `markdown` as a read-only document named `<kind>-token-<n>.md`. */
    async show(kind: 'decoded' | 'verified', markdown: string): Promise<void> {
        this.counter += 1;
        const uri = vscode.Uri.from({ scheme: TOKEN_SCHEME, path: `/${kind}-token-${this.counter}.md` });
        this.contents.set(uri.path, markdown);
        // Keep only the last few documents.
        if (this.contents.size > 20) {
            const oldest = this.contents.keys().next().value as string;
            this.contents.delete(oldest);
        }
        const doc = await vscode.workspace.openTextDocument(uri);
        await vscode.languages.setTextDocumentLanguage(doc, 'markdown');
        const beside = vscode.window.activeTextEditor !== undefined;
        await vscode.window.showTextDocument(doc, { preview: true, viewColumn: beside ? vscode.ViewColumn.Beside : vscode.ViewColumn.Active });
    }

    dispose(): void {
        this.registration.dispose();
        this.contents.clear();
    }
}
