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

    private put(name: string, content: string): vscode.Uri {
        this.counter += 1;
        const uri = vscode.Uri.from({ scheme: TOKEN_SCHEME, path: `/${name.replace('#', String(this.counter))}` });
        this.contents.set(uri.path, content);
        // Keep only the last few documents.
        if (this.contents.size > 20) {
            const oldest = this.contents.keys().next().value as string;
            this.contents.delete(oldest);
        }
        return uri;
    }

    private async open(uri: vscode.Uri, language: string): Promise<void> {
        const doc = await vscode.workspace.openTextDocument(uri);
        await vscode.languages.setTextDocumentLanguage(doc, language);
        const beside = vscode.window.activeTextEditor !== undefined;
        await vscode.window.showTextDocument(doc, { preview: true, viewColumn: beside ? vscode.ViewColumn.Beside : vscode.ViewColumn.Active });
    }

    /** A decoded token as a read-only JSON document (`decoded-token-<n>.jsonc`), the verdict first. */
    async showJson(content: string): Promise<void> {
        await this.open(this.put('decoded-token-#.jsonc', content), 'jsonc');
    }

    /** A verification report, rendered (Markdown preview of a read-only document). */
    async showReport(markdown: string): Promise<void> {
        const uri = this.put('verified-token-#.md', markdown);
        try {
            await vscode.commands.executeCommand('markdown.showPreview', uri);
        } catch {
            await this.open(uri, 'markdown');
        }
    }

    /** Opens `markdown` as a read-only Markdown document (the daemon's card, when it sent no JSON). */
    async show(kind: 'decoded' | 'verified', markdown: string): Promise<void> {
        await this.open(this.put(`${kind}-token-#.md`, markdown), 'markdown');
    }

    dispose(): void {
        this.registration.dispose();
        this.contents.clear();
    }
}
