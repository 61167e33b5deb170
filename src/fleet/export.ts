import type { Host } from './types.js';

/** The fleet snapshot (fleet.yaml) for these hosts, one flow mapping per host. */
export function renderSnapshot(hosts: readonly Host[], source: string, exportedAt: Date): string {
  const lines = [
    '# Fleet snapshot: the volunteer hosts experiments may target.',
    '# Written by `axiom fleet export`; checked against schemas/fleet.schema.json.',
    `source: ${JSON.stringify(source)}`,
    `exported_at: ${isoSeconds(exportedAt)}`,
    hosts.length > 0 ? 'hosts:' : 'hosts: []',
    ...hosts.map((host) => `  - ${renderHost(host)}`),
  ];
  return `${lines.join('\n')}\n`;
}

function renderHost(host: Host): string {
  const fields: string[] = [
    `id: ${host.id}`,
    `cores: ${host.cores}`,
    ...(host.fpops !== undefined ? [`p_fpops: ${Number(host.fpops.toPrecision(6))}`] : []),
    ...(host.blas !== undefined ? [`blas: ${host.blas}`] : []),
    `memory_gb: ${host.memoryGb}`,
    `os: ${host.os}`,
  ];
  if (host.osVersion) fields.push(`os_version: ${JSON.stringify(host.osVersion)}`);
  if (host.gpus.length > 0) {
    const gpus = host.gpus.map((g) => {
      const memory = g.memoryMb === undefined ? '' : `, memory_mb: ${g.memoryMb}`;
      return `{ vendor: ${g.vendor}, model: ${JSON.stringify(g.model)}, count: ${g.count}${memory} }`;
    });
    fields.push(`gpus: [${gpus.join(', ')}]`);
  }
  if (host.userId !== undefined) fields.push(`user_id: ${host.userId}`);
  if (host.teamId !== undefined) fields.push(`team_id: ${host.teamId}`);
  if (host.lastContact) fields.push(`last_contact: ${isoSeconds(host.lastContact)}`);
  return `{ ${fields.join(', ')} }`;
}

/** `2026-11-25T12:00:00Z`: to the second, as the snapshot schema's date-time. */
function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
