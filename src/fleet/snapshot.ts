import { readFileSync } from 'node:fs';
import { ConfigurationError, InvalidInputError } from '../errors.js';
import type { SchemaValidator } from '../schema/validate.js';
import { parseYaml } from '../yaml/document.js';
import type { BlasFamily, FleetSource, Gpu, Host, OsName } from './types.js';

interface SnapshotHost {
  id: number;
  cores: number;
  p_fpops?: number;
  blas?: BlasFamily;
  memory_gb: number;
  os: OsName;
  os_version?: string;
  gpus?: { vendor: Gpu['vendor']; model: string; count: number; memory_mb?: number }[];
  user_id?: number;
  team_id?: number;
  last_contact?: string;
}

/** The committed fleet snapshot (fleet.yaml), so that pull-request checks need no database. */
export class SnapshotFleet implements FleetSource {
  constructor(
    private readonly path: string,
    readonly label: string,
    private readonly validator: SchemaValidator,
  ) {}

  async readHosts(): Promise<Host[]> {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      throw new ConfigurationError(
        `cannot read the fleet snapshot ${this.label}: ${(error as Error).message}`,
      );
    }
    const { document, problems } = parseYaml(this.label, text);
    const errors = document ? [...problems, ...this.validator.validate('fleet', document)] : problems;
    if (!document || errors.some((p) => p.severity === 'error')) {
      throw new InvalidInputError(`the fleet snapshot ${this.label} is not valid`, errors);
    }
    const hosts = (document.data as { hosts: SnapshotHost[] }).hosts;
    const duplicates = findDuplicateIds(hosts);
    if (duplicates.length > 0) {
      throw new InvalidInputError(
        `the fleet snapshot ${this.label} is not valid`,
        duplicates.map(({ id, index }) => ({
          file: this.label,
          ...document.locate(['hosts', index, 'id']),
          path: `hosts[${index}].id`,
          rule: 'fleet-unique-host',
          message: `host ${id} is listed more than once`,
          severity: 'error' as const,
        })),
      );
    }
    return hosts.map(fromSnapshot);
  }
}

function findDuplicateIds(hosts: SnapshotHost[]): { id: number; index: number }[] {
  const seen = new Set<number>();
  const duplicates: { id: number; index: number }[] = [];
  hosts.forEach((host, index) => {
    if (seen.has(host.id)) duplicates.push({ id: host.id, index });
    seen.add(host.id);
  });
  return duplicates;
}

function fromSnapshot(host: SnapshotHost): Host {
  return {
    id: host.id,
    cores: host.cores,
    ...(host.p_fpops !== undefined ? { fpops: host.p_fpops } : {}),
    ...(host.blas !== undefined ? { blas: host.blas } : {}),
    memoryGb: host.memory_gb,
    os: host.os,
    osVersion: host.os_version,
    gpus: (host.gpus ?? []).map((g) => ({
      vendor: g.vendor,
      model: g.model,
      count: g.count,
      memoryMb: g.memory_mb,
    })),
    userId: host.user_id,
    teamId: host.team_id,
    lastContact: host.last_contact ? new Date(host.last_contact) : undefined,
  };
}
