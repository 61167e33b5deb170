import type { Host } from '../fleet/types.js';
import type { OsName } from '../manifest/types.js';
import { gpusFromMisc, gpusFromSerialnum } from './gpu.js';

/** The host columns both stores read; `misc` is absent on BOINC server 1.4. */
export interface HostRecord {
  id: number;
  userid: number;
  teamid: number;
  rpc_time: number;
  p_ncpus: number;
  m_nbytes: number;
  os_name: string | null;
  os_version: string | null;
  serialnum: string | null;
  misc?: string | null;
  total_credit: number;
}

function osOf(name: string | null): OsName | undefined {
  const lower = (name ?? '').toLowerCase();
  if (lower.includes('windows')) return 'windows';
  if (lower.includes('darwin') || lower.includes('mac')) return 'macos';
  if (lower.includes('linux')) return 'linux';
  return undefined;
}

/** A targetable host, or undefined when its OS, cores or memory are unknown. */
export function hostFromRow(row: HostRecord): Host | undefined {
  const os = osOf(row.os_name);
  if (!os || row.p_ncpus < 1 || row.m_nbytes <= 0) return undefined;
  const fromMisc = row.misc === undefined ? [] : gpusFromMisc(row.misc);
  return {
    id: row.id,
    cores: row.p_ncpus,
    memoryGb: Math.max(0.1, Math.round((row.m_nbytes / 2 ** 30) * 10) / 10),
    os,
    ...(row.os_version ? { osVersion: row.os_version.slice(0, 254) } : {}),
    gpus: fromMisc.length > 0 ? fromMisc : gpusFromSerialnum(row.serialnum),
    userId: row.userid,
    teamId: row.teamid,
    lastContact: new Date(row.rpc_time * 1000),
    totalCredit: Number(row.total_credit),
  };
}
