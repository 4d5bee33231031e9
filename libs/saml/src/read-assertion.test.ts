import { describe, expect, it } from 'vitest';
import { readAssertion } from './assertion-checks.ts';
import { parseXml } from './xml.ts';

const assertionXml = (attributeStatements: string): string => `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="_a1" Version="2.0" IssueInstant="2026-11-23T00:00:00Z">
  <saml:Issuer> https://idp.example.com/ </saml:Issuer>
  <saml:Subject>
    <saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">u-<![CDATA[42]]></saml:NameID>
  </saml:Subject>
  <saml:AuthnStatement AuthnInstant="2026-11-23T00:00:00Z" SessionIndex="_s7"/>
  ${attributeStatements}
</saml:Assertion>`;

const read = (attributeStatements = '') => {
  const assertion = parseXml(assertionXml(attributeStatements)).documentElement;
  if (!assertion) throw new Error('no assertion');
  return readAssertion(assertion);
};

describe('readAssertion', () => {
  it('reads the NameID (CDATA included), its format, the trimmed issuer and the SessionIndex', () => {
    expect(read()).toEqual({
      nameId: 'u-42',
      nameIdFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
      issuer: 'https://idp.example.com/',
      sessionIndex: '_s7',
      attributes: {},
    });
  });

  it('reads an attribute the IdP names __proto__ as an attribute (the object has no prototype to replace)', () => {
    const { attributes } = read(`<saml:AttributeStatement>
      <saml:Attribute Name="__proto__"><saml:AttributeValue>a</saml:AttributeValue><saml:AttributeValue>b</saml:AttributeValue></saml:Attribute>
      <saml:Attribute Name="email"><saml:AttributeValue>alice@acme.test</saml:AttributeValue></saml:Attribute>
    </saml:AttributeStatement>`);
    expect(Object.keys(attributes).sort()).toEqual(['__proto__', 'email']);
    expect(attributes['__proto__']).toEqual(['a', 'b']);
    expect((attributes as Record<string, unknown>)['0']).toBeUndefined();
  });

  it('gives one value as a string and several as an array; empty and structured values are skipped', () => {
    const { attributes } = read(`<saml:AttributeStatement>
      <saml:Attribute Name="email"><saml:AttributeValue>alice@acme.test</saml:AttributeValue></saml:Attribute>
      <saml:Attribute Name="groups"><saml:AttributeValue>a</saml:AttributeValue><saml:AttributeValue/><saml:AttributeValue>b</saml:AttributeValue></saml:Attribute>
      <saml:Attribute Name="blank"><saml:AttributeValue>   </saml:AttributeValue></saml:Attribute>
      <saml:Attribute Name="nil"><saml:AttributeValue xsi:nil="true"/></saml:Attribute>
      <saml:Attribute Name="structured"><saml:AttributeValue><x>y</x></saml:AttributeValue></saml:Attribute>
      <saml:Attribute Name="novalue"/>
      <saml:Attribute Name="spaced"><saml:AttributeValue> kept as sent </saml:AttributeValue></saml:Attribute>
    </saml:AttributeStatement>`);
    expect(attributes).toEqual({ email: 'alice@acme.test', groups: ['a', 'b'], spaced: ' kept as sent ' });
  });

  it('lets the last occurrence of an attribute name win, across statements too', () => {
    const { attributes } = read(`<saml:AttributeStatement>
      <saml:Attribute Name="role"><saml:AttributeValue>first</saml:AttributeValue></saml:Attribute>
    </saml:AttributeStatement>
    <saml:AttributeStatement>
      <saml:Attribute Name="role"><saml:AttributeValue>last</saml:AttributeValue></saml:Attribute>
      <saml:Attribute Name="gone"><saml:AttributeValue>x</saml:AttributeValue></saml:Attribute>
      <saml:Attribute Name="gone"><saml:AttributeValue/></saml:Attribute>
    </saml:AttributeStatement>`);
    expect(attributes).toEqual({ role: 'last' });
  });

  it('reads only SAML assertion elements: look-alikes in another namespace are ignored', () => {
    const { attributes } = read(`<saml:AttributeStatement>
      <evil:Attribute xmlns:evil="urn:evil" Name="email"><evil:AttributeValue>mallory@evil.test</evil:AttributeValue></evil:Attribute>
      <saml:Attribute Name="email"><saml:AttributeValue>alice@acme.test</saml:AttributeValue><evil:AttributeValue xmlns:evil="urn:evil">mallory@evil.test</evil:AttributeValue></saml:Attribute>
    </saml:AttributeStatement>`);
    expect(attributes).toEqual({ email: 'alice@acme.test' });
  });
});
