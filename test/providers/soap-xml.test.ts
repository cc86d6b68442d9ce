import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { XMLParser } from 'fast-xml-parser';
import { readXml } from '../../lib/providers/soap-xml.js';

const ANSWER = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:sos='urn:sos'>
  <soapenv:Body>
    <!-- the gateway's answer -->
    <sos:SubmitSMResponse><smResponse>
      <commandStatus>0</commandStatus>
      <messageId>02940001</messageId>
      <statusDescription>OK &amp; queued &#x263A; <![CDATA[<raw>]]></statusDescription>
      <empty/><blank></blank>
    </smResponse></sos:SubmitSMResponse>
  </soapenv:Body>
</soapenv:Envelope>`;

void describe('readXml (the Mada answer reader)', () => {
  it('reads a SOAP answer as fast-xml-parser does with the options the kit used', () => {
    const read = readXml(ANSWER);
    assert.equal(read.ok, true);
    // The same tree as fast-xml-parser's (which leaves numeric references and splits CDATA text).
    const plain = ANSWER.replace(' &#x263A; <![CDATA[<raw>]]>', '');
    const reference = new XMLParser({ removeNSPrefix: true, parseTagValue: false, ignoreDeclaration: true, ignorePiTags: true }).parse(plain) as unknown;
    assert.deepEqual((readXml(plain) as { doc: unknown }).doc, reference);
    const sm = (read.ok ? read.doc : {}) as { Envelope: { Body: { SubmitSMResponse: { smResponse: Record<string, unknown> } } } };
    assert.deepEqual(sm.Envelope.Body.SubmitSMResponse.smResponse, { commandStatus: '0', messageId: '02940001', statusDescription: 'OK & queued ☺ <raw>', empty: '', blank: '' });
  });

  it('repeated elements become arrays', () => {
    assert.deepEqual(readXml('<a><b>1</b><b>2</b></a>'), { ok: true, doc: { a: { b: ['1', '2'] } } });
  });

  it('refuses what is not well-formed, with a code and a line', () => {
    const cases: [string, string][] = [
      ['<Envelope><Body><SubmitSMResponse><smResponse><commandStatus>0</commandStatus>', 'InvalidXml'],
      ['{"status":0}', 'InvalidChar'],
      ['<a><b></a></b>', 'InvalidTagClose'],
      ['<a>1</a><b/>', 'MultipleRoots'],
      ['<a x=1></a>', 'InvalidAttr'],
      ['<a>fish & chips</a>', 'InvalidEntity'],
      ['<a>&bogus;</a>', 'InvalidEntity'],
      ['<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', 'InvalidTag'],
      ['<a><!-- open</a>', 'InvalidXml'],
      ['', 'InvalidXml'],
      ['<a>\n<b>\n</c></a>', 'InvalidTagClose'],
    ];
    for (const [xml, code] of cases) {
      const read = readXml(xml);
      assert.equal(read.ok, false, xml);
      if (!read.ok) assert.equal(read.code, code, xml);
    }
    const deep = readXml('<a>\n<b>\n</c></a>');
    assert.equal(!deep.ok && deep.line, 3);
  });

  it('bounds nesting', () => {
    const read = readXml(`${'<a>'.repeat(100)}${'</a>'.repeat(100)}`);
    assert.deepEqual(read.ok ? 'ok' : read.code, 'TooDeep');
  });
});
