/** Loopback fakes of Google's Ads API and Data Manager API sharing one backend (lists, members, jobs). */
import { FakeGoogleBackend } from './backend';
import { DataManagerFake } from './data-manager-fake';
import { GoogleAdsFake, type GoogleAdsFakeOptions } from './google-ads-fake';

export * from './backend';
export * from './data-manager-fake';
export * from './google-ads-fake';
export * from './status';

export interface GoogleFakes {
  backend: FakeGoogleBackend;
  ads: GoogleAdsFake;
  dataManager: DataManagerFake;
  endpoints: { googleAds: { host: string; port: number; insecure: boolean }; dataManager: { host: string; port: number; insecure: boolean } };
  stop(): Promise<void>;
}

export async function startGoogleFakes(options: Omit<GoogleAdsFakeOptions, 'backend'> = {}): Promise<GoogleFakes> {
  const backend = new FakeGoogleBackend();
  const ads = await new GoogleAdsFake({ ...options, backend }).start();
  const dataManager = await new DataManagerFake({ backend }).start();
  return {
    backend,
    ads,
    dataManager,
    endpoints: { googleAds: ads.endpoint, dataManager: dataManager.endpoint },
    stop: async () => {
      await Promise.all([ads.stop(), dataManager.stop()]);
    },
  };
}
