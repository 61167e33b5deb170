import type { Gpu } from '../fleet/types.js';

const SERIALNUM_VENDORS: Record<string, Gpu['vendor']> = {
  CUDA: 'nvidia',
  CAL: 'amd',
  INTEL: 'intel',
  apple_gpu: 'apple',
  opencl_gpu: 'other',
};

/**
 * GPUs from `host.serialnum` as server 1.4 stores it, e.g.
 * `[BOINC|8.2.4][CUDA|NVIDIA GeForce RTX 3060 Ti|1|8191MB|57260|300][vbox|7.1.6|1|1]`.
 * The column is cut at 254 characters, so an unterminated last group is ignored.
 */
export function gpusFromSerialnum(serialnum: string | null): Gpu[] {
  if (!serialnum) return [];
  const gpus: Gpu[] = [];
  for (const [, group] of serialnum.matchAll(/\[([^\]]*)\]/g)) {
    const [kind = '', model = '', count = '', memory = ''] = (group ?? '').split('|');
    const vendor = SERIALNUM_VENDORS[kind];
    const instances = Number.parseInt(count, 10);
    if (!vendor || !model || !(instances > 0)) continue;
    const memoryMb = Number.parseInt(memory, 10);
    gpus.push({ vendor, model, count: instances, ...(memoryMb >= 0 ? { memoryMb } : {}) });
  }
  return gpus;
}

const MISC_VENDORS: Record<string, Gpu['vendor']> = {
  nvidia: 'nvidia',
  amd: 'amd',
  intel: 'intel',
  apple: 'apple',
};

/** GPUs from the JSON `host.misc` column of server 1.6+: `{"gpus": [{"type", "model", "count", "ram_mb"}]}`. */
export function gpusFromMisc(misc: string | null): Gpu[] {
  if (!misc) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(misc);
  } catch {
    return [];
  }
  const list = (parsed as { gpus?: unknown } | null)?.gpus;
  if (!Array.isArray(list)) return [];
  return list.flatMap((entry): Gpu[] => {
    const { type, model, count, ram_mb } = (entry ?? {}) as Record<string, unknown>;
    if (typeof model !== 'string' || !model || typeof count !== 'number' || count < 1) return [];
    const vendor = MISC_VENDORS[String(type)] ?? 'other';
    return [
      {
        vendor,
        model: model.slice(0, 254),
        count: Math.floor(count),
        ...(typeof ram_mb === 'number' && ram_mb >= 0 ? { memoryMb: Math.floor(ram_mb) } : {}),
      },
    ];
  });
}
