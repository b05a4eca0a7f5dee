// Builds the project's wheel into bundled/ for the .vsix: the extension's private environment
// (src/common/privateEnv.ts) installs it when no interpreter with the package is found.
//   node scripts/bundle-wheel.mjs
// Python: $MICROSTAX_PYTHON, else <repo>/.venv/bin/python, else python3. The build backend
// (hatchling) comes from that Python when it has it (no build isolation, works offline), else pip
// fetches it into an isolated build environment.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ext = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repo = resolve(ext, '..');
const out = join(ext, 'bundled');
const distribution = 'microstax';

const venvPython = join(repo, '.venv', process.platform === 'win32' ? 'Scripts/python.exe' : 'bin/python');
const python = process.env.MICROSTAX_PYTHON || (existsSync(venvPython) ? venvPython : 'python3');

if (!existsSync(join(repo, 'pyproject.toml'))) {
    console.error(`bundle-wheel: no pyproject.toml in ${repo}`);
    process.exit(1);
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const hasBackend = spawnSync(python, ['-c', 'import hatchling'], { stdio: 'ignore' }).status === 0;
const args = ['-m', 'pip', 'wheel', repo, '--no-deps', '--disable-pip-version-check', '--no-input', '-q', '-w', out];
if (hasBackend) {
    args.push('--no-build-isolation');
}
try {
    execFileSync(python, args, { stdio: ['ignore', 'inherit', 'inherit'] });
} catch (err) {
    console.error(`bundle-wheel: ${python} ${args.join(' ')} failed: ${err.message}`);
    process.exit(1);
}

const wheels = readdirSync(out).filter((f) => f.endsWith('.whl'));
const ours = wheels.filter((f) => f.toLowerCase().startsWith(`${distribution}-`));
if (wheels.length !== 1 || ours.length !== 1) {
    console.error(`bundle-wheel: expected one ${distribution} wheel in ${out}, found: ${wheels.join(', ') || 'none'}`);
    process.exit(1);
}
console.log(`bundle-wheel: ${join('bundled', ours[0])}`);
