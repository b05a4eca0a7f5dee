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

    async show(title: string, markdown: string): Promise<void> {
        this.counter += 1;
        const safe = title.replace(/[^A-Za-z0-9 ._@-]+/g, '-').slice(0, 60).trim() || 'token';
        const uri = vscode.Uri.from({ scheme: TOKEN_SCHEME, path: `/${this.counter}/${safe}.md` });
        this.contents.set(uri.path, markdown);
        // Keep only the last few documents.
        if (this.contents.size > 20) {
            const oldest = this.contents.keys().next().value as string;
            this.contents.delete(oldest);
        }
        const doc = await vscode.workspace.openTextDocument(uri);
        await vscode.languages.setTextDocumentLanguage(doc, 'markdown');
        await vscode.window.showTextDocument(doc, { preview: true, viewColumn: vscode.ViewColumn.Beside });
    }

    dispose(): void {
        this.registration.dispose();
        this.contents.clear();
    }
}
