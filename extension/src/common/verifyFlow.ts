/**
 * Which keys "Verify Token" checks a token against when its own issuer's will not do: a
 * configured environment's issuer, or a JWKS file picked from disk, which the daemon reads and
 * verifies against offline (`microstax.verify` `{jwks}`). The UI and the daemon are passed in,
 * so the flow is tested without VS Code.
 */
import type { FlowUI, PickItem } from './federateFlow';
import { BACK } from './federateFlow';
import type { Environment, VerifyParams } from './protocol';

/** The keys to verify against: an environment's issuer, or a JWKS file (an absolute path). */
export type VerifyKeys = { environment: string; issuer: string } | { jwks: string };

type KeyChoice = { kind: 'environment'; env: Environment } | { kind: 'jwksFile' };

/** What a file dialog answered: the daemon reads files of its own machine only. */
export interface PickedFile {
    scheme: string;
    fsPath: string;
}

export interface VerifyKeysUI extends FlowUI {
    /** A file dialog for one JSON file; undefined when dismissed. */
    pickJwksFile(): Promise<PickedFile | undefined>;
    /** Says why a picked file cannot be used (then the pick shows again). */
    warn(message: string): void;
}

export interface VerifyKeysDaemon {
    listEnvironments(): Promise<Environment[]>;
}

export const JWKS_FILE_LABEL = '$(file) Pick a JWKS file…';
export const VERIFY_KEYS_TITLE = 'MicroStax: Verify Token';
/** The button that opens the choice of keys, after a verification failed or found the token not valid. */
export const OTHER_KEYS_LABEL = 'Verify Against Other Keys…';

/** The environments (their issuers' keys), then the JWKS file choice, which is always there. */
export function verifyKeyItems(envs: Environment[] | undefined, listError?: string): PickItem<KeyChoice>[] {
    const items: PickItem<KeyChoice>[] = (envs ?? []).map((env) => ({
        label: env.name,
        description: env.default ? 'default' : undefined,
        detail: `The keys of ${env.issuer}`,
        value: { kind: 'environment', env },
    }));
    items.push({
        label: JWKS_FILE_LABEL,
        detail: listError
            ? `Environments unavailable (${listError}): verify offline against a key set file instead`
            : 'Verify offline against a key set file (e.g. the issuer\'s published jwks.json)',
        value: { kind: 'jwksFile' },
    });
    return items;
}

/** The path the daemon is given for a picked file, or why it cannot be used. */
export function jwksPathOf(file: PickedFile): { path: string } | { problem: string } {
    if (file.scheme !== 'file') {
        return { problem: `the daemon reads files on its own machine only; ${file.scheme}: files cannot be used as a key set` };
    }
    return { path: file.fsPath };
}

/**
 * Asks which keys to verify against: an environment, or a JWKS file (a dismissed file dialog
 * goes back to the choice). Undefined when the user gives up.
 */
export async function chooseVerifyKeys(ui: VerifyKeysUI, daemon: VerifyKeysDaemon): Promise<VerifyKeys | undefined> {
    let listError: string | undefined;
    const items = daemon.listEnvironments().then(
        (envs) => verifyKeyItems(envs),
        (err: unknown) => {
            // A broken config must not block offline verification: the file choice stays.
            listError = String((err as { message?: unknown })?.message ?? err);
            return verifyKeyItems(undefined, listError);
        },
    );
    for (;;) {
        const choice = await ui.pick<KeyChoice>({
            title: VERIFY_KEYS_TITLE,
            step: 1,
            totalSteps: 1,
            placeholder: 'Verify against the keys of which environment’s issuer — or of a JWKS file?',
            items,
            canGoBack: false,
        });
        if (choice === undefined || choice === BACK) {
            return undefined;
        }
        if (choice.kind === 'environment') {
            return { environment: choice.env.name, issuer: choice.env.issuer };
        }
        const file = await ui.pickJwksFile();
        if (!file) {
            continue; // dismissed: choose again
        }
        const where = jwksPathOf(file);
        if ('path' in where) {
            return { jwks: where.path };
        }
        ui.warn(where.problem);
    }
}

/** The `microstax.verify` argument for `token` checked against `keys` (none: its own issuer's). */
export function verifyParams(token: string, keys?: VerifyKeys): VerifyParams {
    if (!keys) {
        return { token };
    }
    return 'jwks' in keys ? { token, jwks: keys.jwks } : { token, issuer: keys.issuer };
}

/** " against the keys in jwks.json", for the progress title; '' for the token's own issuer. */
export function keysPhrase(keys?: VerifyKeys): string {
    if (!keys) {
        return '';
    }
    if ('jwks' in keys) {
        const name = keys.jwks.split(/[\\/]/).pop() || keys.jwks;
        return ` against the keys in ${name}`;
    }
    return ` against the keys of ${keys.environment}`;
}
