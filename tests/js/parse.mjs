// Reads a feed on stdin, prints what the Podcast Index parser makes of it, as JSON.
import { parseFeed } from "podcast-partytime";

let xml = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) xml += chunk;
const feed = parseFeed(xml, { allowMissingGuid: false });
process.stdout.write(JSON.stringify(feed));
