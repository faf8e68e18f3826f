import type { Command } from 'commander';
import { ENDPOINTS_SOURCES, type EndpointsSource } from '../api/endpoint-slice.js';
import { UsageError } from '../api/errors.js';
import { keelOption } from './options.js';

export interface EndpointsSourceFlags {
  /** Absent (callers other than commander): auto. */
  endpointsSource?: string;
}

/** --endpoints-source (KEEL_ENDPOINTS_SOURCE), for every command that reads service endpoints. */
export function addEndpointsSourceOption(cmd: Command): Command {
  return cmd.addOption(
    keelOption(
      '--endpoints-source <source>',
      'where service endpoints come from: auto (EndpointSlices when the cluster has any, else v1 Endpoints), endpointslices or endpoints',
      'auto',
    ),
  );
}

export function endpointsSourceOf(flags: EndpointsSourceFlags): EndpointsSource {
  const v = flags.endpointsSource ?? 'auto';
  if (!(ENDPOINTS_SOURCES as readonly string[]).includes(v)) {
    throw new UsageError(`--endpoints-source: "${v}" is not one of ${ENDPOINTS_SOURCES.join(', ')}`);
  }
  return v as EndpointsSource;
}
