import type { BackendType } from '../network-config.js';
import type { BackendFactory } from './backend.js';
import { hostGw } from './host-gw.js';
import { udp } from './udp.js';
import { vxlan } from './vxlan.js';

/** Every backend keel has, by the name flannel's config uses. */
export const backends: Readonly<Record<BackendType, BackendFactory>> = { vxlan, udp, 'host-gw': hostGw };
