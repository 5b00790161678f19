// Gatehouse: get an access token with the client credentials grant
// (RFC 6749 section 4.4, HTTP Basic client authentication), keep it in the
// collection variables accessToken and accessTokenExpiry, and get a new one
// 60 seconds before it expires. The collection's OAuth 2.0 auth sends it
// as "Authorization: Bearer {{accessToken}}". Public requests (auth
// "No Auth") get no token.
(function () {
    if (pm.request.auth && pm.request.auth.type === 'noauth') {
        return;
    }
    const renewBefore = 60 * 1000;
    const token = pm.collectionVariables.get('accessToken');
    const expiry = Number(pm.collectionVariables.get('accessTokenExpiry') || 0);
    if (token && Date.now() < expiry - renewBefore) {
        return;
    }
    const tokenUrl = pm.variables.get('tokenUrl');
    const clientId = pm.variables.get('clientId') || '';
    const clientSecret = pm.variables.get('clientSecret') || '';
    const scope = pm.variables.get('scope') || '';
    if (!clientId || !clientSecret) {
        throw new Error('set the clientId and clientSecret variables to your OAuth client\'s credentials');
    }
    // RFC 6749 section 2.3.1: form-encode each part, then Base64.
    const form = function (s) {
        return encodeURIComponent(s).replace(/%20/g, '+');
    };
    const CryptoJS = require('crypto-js');
    const basic = CryptoJS.enc.Base64.stringify(CryptoJS.enc.Utf8.parse(form(clientId) + ':' + form(clientSecret)));
    const fields = [{ key: 'grant_type', value: 'client_credentials' }];
    if (scope) {
        fields.push({ key: 'scope', value: scope });
    }
    pm.sendRequest({
        url: tokenUrl,
        method: 'POST',
        header: [
            { key: 'Authorization', value: 'Basic ' + basic },
            { key: 'Accept', value: 'application/json' },
            { key: 'Content-Type', value: 'application/x-www-form-urlencoded' }
        ],
        body: { mode: 'urlencoded', urlencoded: fields }
    }, function (err, res) {
        if (err) {
            throw new Error('token request to ' + tokenUrl + ' failed: ' + err);
        }
        let body = {};
        try {
            body = res.json();
        } catch (e) {
            // not JSON: reported below
        }
        if (res.code !== 200 || !body.access_token) {
            throw new Error('token request to ' + tokenUrl + ': ' + res.code + ' ' + (body.error || '') + (body.error_description ? ': ' + body.error_description : ''));
        }
        const lifetime = Number(body.expires_in || 0) * 1000;
        pm.collectionVariables.set('accessToken', body.access_token);
        pm.collectionVariables.set('accessTokenExpiry', String(Date.now() + lifetime));
    });
})();
