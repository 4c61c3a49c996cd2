"""Vocabulary and templates of the NLP dataset's fictional world: a cloud provider, its products,
customers and support tickets. Data only; the generator is in ``nlp.py``.

Template slots are ``{name}``; a slot whose name is an entity label (PERSON, ORG, PRODUCT, LOC,
DATE, MONEY) is annotated as a named-entity span.
"""

from __future__ import annotations

ENTITY_LABELS = ("PERSON", "ORG", "PRODUCT", "LOC", "DATE", "MONEY")

FIRST_NAMES = (
    "Ada", "Alan", "Amara", "Ana", "Arjun", "Ben", "Bianca", "Carlos", "Chen", "Chloe", "Dana", "Daniel", "Diego",
    "Elena", "Emeka", "Eva", "Farah", "Felix", "Grace", "Hana", "Hugo", "Ines", "Ivan", "Jamal", "Jonas", "Julia",
    "Kai", "Kenji", "Lara", "Leila", "Liam", "Lucia", "Marco", "Maya", "Mei", "Mohammed", "Nadia", "Nia", "Noah",
    "Olga", "Omar", "Priya", "Rafael", "Rosa", "Sam", "Sara", "Sofia", "Tariq", "Tom", "Uma", "Victor", "Wei",
    "Yara", "Yusuf", "Zoe"
)  # fmt: skip
LAST_NAMES = (
    "Abara", "Bauer", "Brennan", "Castillo", "Chowdhury", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia",
    "Haddad", "Hoffmann", "Ibrahim", "Ito", "Jansen", "Kaur", "Kowalski", "Larsen", "Lopez", "Mbeki", "Moreau",
    "Nakamura", "Novak", "Okafor", "Olsen", "Patel", "Petrov", "Quinn", "Rossi", "Santos", "Schmidt", "Silva",
    "Tanaka", "Torres", "Ueda", "Varga", "Wagner", "Whitfield", "Xu", "Yilmaz", "Zhang"
)  # fmt: skip
ORGS = (
    "Acme Corp", "Globex", "Initech", "Umbrella Labs", "Hooli", "Stark Logistics", "Wayne Foods",
    "Cyberdyne Health", "Soylent Energy", "Tyrell Media", "Wonka Retail", "Oceanic Air", "Vandelay Imports",
    "Massive Dynamic", "Pied Piper", "Aperture Science", "Black Mesa Research", "Gringotts Finance",
    "Monarch Travel", "Nakatomi Trading", "Blue Sun", "Dunder Paper", "Prestige Worldwide", "Sterling Cooper",
)  # fmt: skip
CITIES = (
    "Frankfurt", "Dublin", "Oregon", "Virginia", "Singapore", "Tokyo", "Sydney", "Mumbai", "Sao Paulo",
    "Toronto", "Stockholm", "Paris", "Seoul", "Cape Town", "Milan", "Zurich",
)  # fmt: skip
MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
    "December"
)  # fmt: skip
PRODUCT_PREFIXES = ("Nimbus", "Cirrus", "Stratus", "Cumulus", "Aurora", "Zephyr")
PRODUCT_KINDS = {  # kind: (what it is, unit priced, size unit)
    "Compute": ("a virtual machine service", "vCPU-hour", "vCPUs"),
    "Storage": ("an object storage service", "GB-month", "TB"),
    "DB": ("a managed relational database", "instance-hour", "TB"),
    "Queue": ("a message queue", "million requests", "GB"),
    "Functions": ("a serverless functions platform", "million invocations", "GB of memory"),
    "CDN": ("a content delivery network", "GB transferred", "TB"),
    "Monitor": ("a metrics and alerting service", "thousand series", "million series"),
    "Vault": ("a secrets manager", "thousand secrets", "thousand secrets"),
    "Stream": ("a managed event streaming service", "partition-hour", "TB"),
    "Search": ("a managed search engine", "node-hour", "TB"),
}
FEATURES = (
    "autoscaling", "point-in-time restore", "private networking", "audit logging", "single sign-on",
    "cross-region replication", "usage alerts", "customer-managed keys", "IPv6 support", "a dark mode console",
    "spot pricing", "scheduled snapshots", "fine-grained permissions", "a Terraform provider",
)  # fmt: skip
ERRORS = ("NB-4031", "NB-5002", "NB-4290", "NB-4013", "NB-5030", "NB-4100", "NB-4404", "NB-5099")
FIXES = (
    "rotate the access key and retry", "raise the quota in the console", "wait for the retry window to pass",
    "check that the region is enabled for the project", "reduce the request rate below the limit",
    "update the client library to the latest version", "re-attach the network policy",
)  # fmt: skip
GREETINGS = ("Hi,", "Hello,", "Hi team,", "Good morning,", "Dear support,", "Hey there,", "")
CLOSINGS = ("Thanks, {PERSON}", "Regards, {PERSON} ({ORG})", "Best, {PERSON}", "Thank you. {PERSON}, {ORG}", "")

# Support-ticket intents: the classification labels. Templates deliberately share vocabulary
# across intents (product names, dates, money), so that a bag of words has to pick the right cues.
TICKET_TEMPLATES: dict[str, tuple[str, ...]] = {
    "billing": (
        "I was charged {MONEY} twice for {PRODUCT} on {DATE}. Can you refund the duplicate charge?",
        "Our invoice for {DATE} shows {MONEY} for {PRODUCT} but we only used it for a few hours.",
        "Why did the {PRODUCT} bill for {ORG} jump to {MONEY} this month?",
        "Please send a corrected invoice; the tax for {ORG} in {LOC} is wrong.",
        "The credit card on file for {ORG} expired and the {MONEY} payment failed on {DATE}.",
        "Can we switch {PRODUCT} from monthly billing to an annual plan before {DATE}?",
        "We expected the discount on {PRODUCT} but got charged the full {MONEY}.",
    ),
    "outage": (
        "{PRODUCT} in {LOC} has been down since {DATE}; all requests time out.",
        "Our production {PRODUCT} cluster in {LOC} is unreachable. This is urgent.",
        "Latency on {PRODUCT} in {LOC} went above ten seconds and customers of {ORG} are affected.",
        "Is there an incident in {LOC}? {PRODUCT} returns {ERROR} for every call since this morning.",
        "Since {DATE} half of our {PRODUCT} nodes in {LOC} stopped responding.",
        "The status page says everything is fine but {PRODUCT} is down for {ORG} in {LOC}.",
    ),
    "login_access": (
        "I cannot log in to the console since {DATE}; the password reset email never arrives.",
        "Single sign-on for {ORG} stopped working and nobody can access {PRODUCT}.",
        "My account is locked after too many attempts. Please unlock the user for {PERSON}.",
        "Two-factor codes are rejected when I sign in from {LOC}.",
        "{PERSON} left {ORG}; please transfer the owner role of the account to me.",
        "Access denied ({ERROR}) when our service account reads from {PRODUCT}.",
    ),
    "feature_request": (
        "Would it be possible to add {FEATURE} to {PRODUCT}? {ORG} would use it right away.",
        "Please consider {FEATURE} for {PRODUCT} in {LOC}; competitors already offer it.",
        "It would help us a lot if {PRODUCT} supported {FEATURE}.",
        "Feature idea: {FEATURE} in {PRODUCT}, ideally before {DATE}.",
        "Our team at {ORG} is asking whether {FEATURE} is on the {PRODUCT} roadmap.",
        "Any plans to bring {FEATURE} to {PRODUCT}? We would pay extra for it.",
    ),
    "bug_report": (
        "{PRODUCT} returns {ERROR} when the request body is larger than one megabyte.",
        "The {PRODUCT} client library crashes on retry after {ERROR}; stack trace attached.",
        "Since the update on {DATE}, {PRODUCT} shows the wrong timezone in the console.",
        "Exports from {PRODUCT} drop the last row; reproducible every time.",
        "The {PRODUCT} API ignores the page size parameter and returns everything.",
        "After enabling {FEATURE}, {PRODUCT} reports {ERROR} for valid requests.",
    ),
    "cancellation": (
        "Please cancel the {PRODUCT} subscription for {ORG} at the end of {DATE}.",
        "We are moving off {PRODUCT} and want to close the account and delete our data.",
        "How do I terminate all {PRODUCT} resources and stop the {MONEY} monthly charge?",
        "{ORG} will not renew the contract; please confirm the cancellation of {PRODUCT}.",
        "Close my account, I no longer need {PRODUCT}.",
        "We decided to leave after {DATE}; what happens to the data in {PRODUCT} when we cancel?",
    ),
}
# A sentence about another topic, added to some tickets, so that cues from two intents mix.
ASIDES: dict[str, tuple[str, ...]] = {
    "billing": ("Also the last invoice looked odd.", "Separately, can you check our payment?"),
    "outage": ("We also saw some timeouts yesterday.", "The dashboard was slow as well."),
    "login_access": ("One colleague also had trouble signing in.", "Password resets are slow too."),
    "feature_request": ("It would also be nice to have better docs.", "A bulk export would help too."),
    "bug_report": ("The console also shows a strange error now and then.", "The CLI prints a warning too."),
    "cancellation": ("We might reduce our usage next quarter.", "We are reviewing all our vendors."),
}

# Knowledge-base articles: per article type, paragraphs with fact slots (lower-case names).
DOC_TEMPLATES: dict[str, tuple[str, ...]] = {
    "overview": (
        "{PRODUCT} is {what} offered by Nimbus Cloud. It became generally available in {launch}.",
        "The product manager of {PRODUCT} is {owner}, who leads the team from {hq}.",
        "{PRODUCT} integrates with the rest of the platform through the {api} API.",
    ),
    "pricing": (
        "{PRODUCT} is billed at {price} per {unit}, charged by the second with a one-minute minimum.",
        "Every account gets a free tier of {free_tier} per month for {PRODUCT}.",
        "Committing to one year of {PRODUCT} lowers the price by {discount}.",
    ),
    "limits": (
        "A single {PRODUCT} resource can grow to at most {max_size}.",
        "The {PRODUCT} API accepts up to {rate_limit} requests per second per project; above that it returns NB-4290.",
        "Logs and backups of {PRODUCT} are kept for {retention}.",
    ),
    "regions": (
        "{PRODUCT} is available in {region_list}.",
        "The {PRODUCT} service level agreement guarantees {sla} monthly uptime.",
        "Data stored in {PRODUCT} never leaves the region where it was created unless replication is enabled.",
    ),
    "troubleshooting": (
        "If {PRODUCT} returns {error}, the usual fix is to {fix}.",
        "Errors starting with NB-5 are server side; contact support if {PRODUCT} keeps returning them.",
        "Before opening a ticket about {PRODUCT}, collect the request id shown next to {error}.",
    ),
}
# Extractive QA: per fact slot, question templates; the answer is the slot's value in the article.
QUESTIONS: dict[str, tuple[str, ...]] = {
    "launch": ("When did {PRODUCT} become generally available?", "Since when is {PRODUCT} available?"),
    "owner": ("Who is the product manager of {PRODUCT}?", "Who leads the {PRODUCT} team?"),
    "hq": ("From which city is the {PRODUCT} team led?",),
    "api": ("Which API does {PRODUCT} integrate through?",),
    "price": ("How much does {PRODUCT} cost?", "What is the price of {PRODUCT}?"),
    "free_tier": ("How large is the free tier of {PRODUCT}?",),
    "discount": ("How much does a one-year commitment save on {PRODUCT}?",),
    "max_size": ("What is the maximum size of a {PRODUCT} resource?", "How big can a {PRODUCT} resource get?"),
    "rate_limit": ("How many requests per second does the {PRODUCT} API accept?",),
    "retention": ("How long are {PRODUCT} logs and backups kept?",),
    "region_list": ("In which regions is {PRODUCT} available?",),
    "sla": ("What uptime does the {PRODUCT} SLA guarantee?", "What is the SLA of {PRODUCT}?"),
    "error": ("Which error code does the {PRODUCT} troubleshooting guide cover?",),
    "fix": ("What is the usual fix when {PRODUCT} returns its documented error?",),
}

# Extra sentence templates for the plain-text corpus (tokenizer / tiny language model).
CORPUS_TEMPLATES = (
    "{PERSON} from {ORG} reported that {PRODUCT} was slow in {LOC} on {DATE}.",
    "The {PRODUCT} team shipped {FEATURE} for customers in {LOC}.",
    "On {DATE}, {ORG} moved its workloads from {PRODUCT} to {PRODUCT}.",
    "If {PRODUCT} returns {ERROR}, {FIX}.",
    "{PERSON} wrote a guide on how {ORG} uses {PRODUCT} with {FEATURE}.",
    "Starting {DATE}, {PRODUCT} costs {MONEY} less for every team at {ORG}.",
    "The incident in {LOC} affected {PRODUCT} for about {NUMBER} minutes.",
    "{ORG} signed a contract worth {MONEY} to run {PRODUCT} in {LOC}.",
    "{PERSON} and {PERSON} presented {FEATURE} at the {LOC} meetup.",
    "Support closed {NUMBER} tickets about {PRODUCT} last week.",
    "The release notes for {PRODUCT} mention {FEATURE} and a fix for {ERROR}.",
    "Customers in {LOC} asked for {FEATURE} in {PRODUCT}.",
)
