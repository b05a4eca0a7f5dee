import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hoverLinks, isTokenCard, parseTokenAt } from '../src/common/hoverLinks';

const ids = { decodeAt: 'microstax.decodeAt', verifyAt: 'microstax.verifyAt', copyClaimsAt: 'microstax.copyClaimsAt' };

test('links name the document and position, never the token', () => {
    const at = { uri: 'file:///w/tokens.yaml', line: 0, character: 12 };
    const md = hoverLinks(at, ids);
    assert.match(md, /^\[Decode\]\(command:microstax\.decodeAt\?.+\) · \[Verify\]\(command:microstax\.verifyAt\?.+\) · \[Copy Claims\]\(command:microstax\.copyClaimsAt\?.+\)$/);
    const arg = decodeURIComponent(/decodeAt\?([^)]*)\)/.exec(md)?.[1] ?? '');
    assert.deepEqual(JSON.parse(arg), [at]);
    assert.doesNotMatch(md, /eyJ/);
});

test('only a well-formed token card gets links; arguments are checked', () => {
    assert.equal(isTokenCard('✓ **Valid** · **JWT** · user `dev` · expires in 5m\n\n…'), true);
    assert.equal(isTokenCard('✗ **Malformed JWT** · not a well-formed compact JWS'), false);
    assert.equal(isTokenCard('something else'), false);
    assert.deepEqual(parseTokenAt({ uri: 'file:///a', line: 1, character: 2 }), { uri: 'file:///a', line: 1, character: 2 });
    assert.equal(parseTokenAt({ uri: 'file:///a', line: -1, character: 2 }), undefined);
    assert.equal(parseTokenAt({ uri: 1, line: 1, character: 2 }), undefined);
    assert.equal(parseTokenAt(undefined), undefined);
});

test('the token around a position, on a line of any length', async () => {
    const { tokenAround } = await import('../src/common/clipboard');
    const tok = `eyJhbGciOiJFUzI1NiJ9.${'eyJzdWIiOiJ4In0'.repeat(400)}.${'A'.repeat(86)}`;
    const line = `token: ${tok} # note`;
    assert.equal(tokenAround(line, 7)?.token, tok);
    assert.equal(tokenAround(line, 7 + tok.length)?.token, tok, 'the end of the token counts');
    assert.equal(tokenAround(line, 3000)?.start, 7);
    assert.equal(tokenAround(line, 2), undefined);
    assert.equal(tokenAround(line, line.length - 1), undefined);
});
