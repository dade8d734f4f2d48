/**
 * The DeviceInformation queries Tandem asks a newly enrolled device. Under User Enrollment Apple's
 * schema (mdm/commands/information.device.yaml, iOS 18.1) forbids the identifying ones (UDID,
 * SerialNumber, IMEI, MEID, MACs, phone number, carrier data, PushToken…): they are never asked,
 * and never stored if a device volunteers them.
 */
export const userEnrollmentQueries = [
  'DeviceName',
  'OSVersion',
  'BuildVersion',
  'ModelName',
  'Model',
  'ModelNumber',
  'ProductName',
  'DeviceCapacity',
  'AvailableDeviceCapacity',
  'BatteryLevel',
  'CellularTechnology',
  'IsSupervised',
  'IsDeviceLocatorServiceEnabled',
  'TimeZone',
  'OrganizationInfo',
  'MDMOptions',
] as const;

/** Device Enrollment may also ask for the hardware identifiers. */
export const deviceEnrollmentQueries = [...userEnrollmentQueries, 'UDID', 'SerialNumber', 'IMEI', 'MEID', 'WiFiMAC', 'BluetoothMAC'] as const;

/** Keys a user-enrolled device must never have stored, wherever they appear in its answers. */
export const userEnrollmentForbiddenKeys = new Set([
  'UDID',
  'SerialNumber',
  'IMEI',
  'MEID',
  'WiFiMAC',
  'BluetoothMAC',
  'EthernetMAC',
  'PhoneNumber',
  'ICCID',
  'PushToken',
  'iTunesStoreAccountHash',
  'SoftwareUpdateDeviceID',
  'ModemFirmwareVersion',
  'ServiceSubscriptions',
  'CurrentCarrierNetwork',
  'SubscriberCarrierNetwork',
  'SubscriberMCC',
  'SubscriberMNC',
  'CurrentMCC',
  'CurrentMNC',
  'CarrierSettingsVersion',
]);

export function queriesFor(kind: 'user' | 'device'): readonly string[] {
  return kind === 'user' ? userEnrollmentQueries : deviceEnrollmentQueries;
}

/** Drops, at any depth, the keys a user-enrolled device must not have stored. */
export function withoutForbiddenKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutForbiddenKeys);
  if (value && typeof value === 'object' && !(value instanceof Date) && !Buffer.isBuffer(value)) {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([k]) => !userEnrollmentForbiddenKeys.has(k))
        .map(([k, v]) => [k, withoutForbiddenKeys(v)]),
    );
  }
  return value;
}

/**
 * Whether a device is supervised, from its own DeviceInformation answer. A user-enrolled device
 * never is; a device-enrolled one only when it said so.
 */
export function isSupervised(kind: 'user' | 'device', facts: unknown): boolean {
  return kind === 'device' && (facts as { deviceInformation?: { IsSupervised?: unknown } } | null)?.deviceInformation?.IsSupervised === true;
}
