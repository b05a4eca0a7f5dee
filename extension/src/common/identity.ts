/**
 * The identity block: `serverInfo` plus publisher/name in package.json. Command ids, setting
 * names, the output channel and the daemon module all derive from it, so a rename is one edit.
 */

export interface ServerInfo {
    /** Human name: output channel, status bar tooltip, messages. */
    name: string;
    /** Python module run as `python -m <module> <daemonArgs…>`. */
    module: string;
    /** Settings section and command-id prefix. */
    section: string;
    /** Arguments after the module (or console script) that start the daemon. */
    daemonArgs: string[];
    /** The oldest Python the module supports (its `requires-python`): the private environment needs it. */
    minPython: string;
    /** `publisher.name`, the extension id. */
    extensionId: string;
}

interface PackageJsonLike {
    publisher?: string;
    name?: string;
    serverInfo?: Partial<Omit<ServerInfo, 'extensionId'>>;
}

export function loadServerInfo(pkg: PackageJsonLike): ServerInfo {
    const info = pkg.serverInfo ?? {};
    const module = info.module ?? 'microstax';
    return {
        name: info.name ?? 'MicroStax Identity',
        module,
        section: info.section ?? module,
        daemonArgs: info.daemonArgs ?? ['daemon'],
        minPython: info.minPython ?? '3.11',
        extensionId: `${pkg.publisher ?? 'microstax'}.${pkg.name ?? 'microstax-identity'}`,
    };
}

/** Client-side (VS Code) command ids, derived from the section. */
export function commandIds(section: string) {
    return {
        federate: `${section}.federate`,
        decodeToken: `${section}.decodeToken`,
        verifyToken: `${section}.verifyToken`,
        signIn: `${section}.signIn`,
        signOut: `${section}.signOut`,
        showIdentityStatus: `${section}.showIdentityStatus`,
        restartDaemon: `${section}.restartDaemon`,
        showLogs: `${section}.showLogs`,
        quickActions: `${section}.quickActions`,
        viewRefresh: `${section}.view.refresh`,
        viewFederate: `${section}.view.federate`,
        viewCopy: `${section}.view.copy`,
        configurePlatform: `${section}.configurePlatform`,
        startLocalPlatform: `${section}.startLocalPlatform`,
        openDocs: `${section}.openDocs`,
        copyLoginCode: `${section}.copyLoginCode`,
        openLoginPage: `${section}.openLoginPage`,
        decodeAt: `${section}.decodeAt`,
        verifyAt: `${section}.verifyAt`,
        copyClaimsAt: `${section}.copyClaimsAt`,
    } as const;
}
export type CommandIds = ReturnType<typeof commandIds>;
