/**
 * The device code belongs in the sign-in's own progress notification, which closes when the
 * sign-in ends (no second notification left behind). A prompt that arrives with no sign-in of
 * ours in progress (e.g. a refresh that needs the user) falls back to its own notification.
 * No vscode import.
 */
import type { LoginPrompt } from './protocol';

export interface PromptLinks {
    openLoginPage: string;
    copyLoginCode: string;
}

/** The progress message: the code and where to enter it, with command links. */
export function loginProgressMessage(p: LoginPrompt, links: PromptLinks): string {
    return `enter the code ${p.userCode} at ${p.verificationUri} — [Open Browser](command:${links.openLoginPage}) · [Copy Code](command:${links.copyLoginCode})`;
}

interface Active {
    environment?: string;
    report: (message: string) => void;
}

export class LoginPrompts {
    private active: Active | undefined;
    /** The last prompt, for the Open Browser / Copy Code links. */
    last: LoginPrompt | undefined;

    constructor(private readonly links: PromptLinks) {}

    /** A sign-in starts; `report` updates its progress notification. Returns `end`. */
    begin(environment: string | undefined, report: (message: string) => void): () => void {
        const mine: Active = { environment, report };
        this.active = mine;
        return () => {
            if (this.active === mine) {
                this.active = undefined;
            }
        };
    }

    /** True when the prompt went into the sign-in's progress; false: show it on its own. */
    route(p: LoginPrompt): boolean {
        this.last = p;
        const a = this.active;
        if (a && (!a.environment || a.environment === p.environment)) {
            a.report(loginProgressMessage(p, this.links));
            return true;
        }
        return false;
    }
}
