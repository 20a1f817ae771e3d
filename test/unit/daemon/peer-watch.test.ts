import { describe, expect, it } from 'vitest';
import { replacementLabels } from '../../../src/daemon/peer-watch.js';

describe('replacementLabels', () => {
  it("keeps the project, service, number and one-off labels a Compose service's replacement repeats", () => {
    expect(
      replacementLabels({
        'com.docker.compose.project': 'shop',
        'com.docker.compose.service': 'db',
        'com.docker.compose.container-number': '1',
        'com.docker.compose.oneoff': 'False',
        'com.docker.compose.config-hash': 'abc',
        'com.docker.compose.version': '1.29.2',
        'org.example.team': 'data',
      }),
    ).toEqual({
      'com.docker.compose.project': 'shop',
      'com.docker.compose.service': 'db',
      'com.docker.compose.container-number': '1',
      'com.docker.compose.oneoff': 'False',
    });
  });

  it('asks only for the labels the container has', () => {
    expect(
      replacementLabels({ 'com.docker.compose.project': 'shop', 'com.docker.compose.service': 'db' }),
    ).toEqual({ 'com.docker.compose.project': 'shop', 'com.docker.compose.service': 'db' });
  });

  it('is null for a container Compose did not make: nothing replaces it', () => {
    expect(replacementLabels({})).toBeNull();
    expect(replacementLabels({ 'com.docker.compose.project': 'shop' })).toBeNull();
    expect(replacementLabels({ 'com.docker.compose.service': 'db' })).toBeNull();
  });
});
