import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Python venv with NVIDIA's tritonclient (grpc, http) and numpy, outside the repository. */
export const TRITONCLIENT_VENV = resolve(homedir(), '.cache/keel/venv-tritonclient');
export const TRITONCLIENT_PYTHON = resolve(TRITONCLIENT_VENV, 'bin/python');
const REQUIREMENTS = resolve(__dirname, 'requirements.txt');
/** Written after a complete install: the sha256 of the requirements it installed. */
const INSTALLED_MARKER = resolve(TRITONCLIENT_VENV, 'keel-requirements.sha256');
/** Generous: a first install on a slow link downloads grpcio, protobuf and numpy wheels. */
const INSTALL_TIMEOUT_MS = 15 * 60_000;

const requirementsHash = () => createHash('sha256').update(readFileSync(REQUIREMENTS)).digest('hex');

async function importsWork(): Promise<boolean> {
  try {
    await run(TRITONCLIENT_PYTHON, ['-c', 'import numpy, tritonclient.grpc, tritonclient.http'], { timeout: 60_000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * Creates the venv and installs the pinned requirements (from PyPI) unless a complete install of the same
 * requirements is there already and imports; returns the venv's python. An interrupted install leaves no marker, so
 * the next call installs again (pip skips what is already there).
 */
export async function ensureTritonclientVenv(log: (line: string) => void = () => undefined): Promise<string> {
  const wanted = requirementsHash();
  const marker = existsSync(INSTALLED_MARKER) ? readFileSync(INSTALLED_MARKER, 'utf8').trim() : '';
  if (marker === wanted && (await importsWork())) return TRITONCLIENT_PYTHON;
  log(`preparing ${TRITONCLIENT_VENV} (one-off: tritonclient[grpc,http], numpy from PyPI)`);
  const step = async (command: string, args: string[]) => {
    try {
      await run(command, args, { timeout: INSTALL_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 });
    } catch (error) {
      const { stderr } = error as { stderr?: string };
      throw new Error(`${command} ${args.join(' ')} failed: ${(error as Error).message}\n${stderr ?? ''}`.trim());
    }
  };
  if (!existsSync(TRITONCLIENT_PYTHON)) await step('python3', ['-m', 'venv', TRITONCLIENT_VENV]);
  await step(TRITONCLIENT_PYTHON, [
    '-m',
    'pip',
    'install',
    '--quiet',
    '--disable-pip-version-check',
    '-r',
    REQUIREMENTS,
  ]);
  if (!(await importsWork())) throw new Error(`${TRITONCLIENT_VENV}: tritonclient does not import after installing`);
  writeFileSync(INSTALLED_MARKER, `${wanted}\n`);
  return TRITONCLIENT_PYTHON;
}
