import type { Endpoints } from '../src/api/endpoints.js';
import type { Service } from '../src/api/service.js';
import { makeEndpoints, makeService } from '../src/api/testing/object-builders.js';

/** n services `bench/svc-I` (10.96.x.y, port 80) with `endpoints` endpoints each on nodes node-0…: the proxy benches' cluster. */
export function cluster(n: number, endpoints = 5): { services: Service[]; eps: Endpoints[] } {
  const services: Service[] = [];
  const eps: Endpoints[] = [];
  for (let i = 0; i < n; i++) {
    const name = `svc-${i}`;
    services.push(
      makeService('bench', name, (s) => {
        s.clusterIP = `10.96.${Math.floor(i / 250)}.${(i % 250) + 1}`;
        s.ports = [{ name: 'http', port: 80, targetPort: 8080 }];
      }),
    );
    eps.push(
      makeEndpoints(
        'bench',
        name,
        Array.from({ length: endpoints }, (_, j) => {
          const k = i * endpoints + j;
          return { ip: `10.244.${Math.floor(k / 250) % 256}.${(k % 250) + 1}`, node: `node-${j}` };
        }),
        [{ name: 'http', port: 8080 }],
      ),
    );
  }
  return { services, eps };
}
