import type { ApiInfo } from '@pcf/sdk';
import { pcf } from '../../client.js';

export type RegistrationMode = ApiInfo['registration'];

let asked: Promise<RegistrationMode | undefined> | undefined;

/**
 * How this server lets people register, from the API index; undefined when it cannot be told
 * (an older server, no answer), in which case the console offers registration and lets the
 * server say no. Asked once per page load.
 */
export function registrationMode(): Promise<RegistrationMode | undefined> {
  asked ??= pcf
    .info()
    .then((info) => info.registration)
    .catch(() => {
      asked = undefined;
      return undefined;
    });
  return asked;
}
