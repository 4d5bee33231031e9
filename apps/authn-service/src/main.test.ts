import { describeSplitMain } from '@broker/testing';

describeSplitMain('authn-service', 'apps/authn-service/src/main.ts');
