"""The synthetic people of the demo: first names, surnames, ethnicity codes, schools,
agencies, reasons for referral, outcomes, notes. None is a real person."""

from __future__ import annotations

GIRLS = ("Amelia", "Olivia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Freya", "Grace", "Ella", "Evie",
         "Sophie", "Poppy", "Rosie", "Ruby", "Willow", "Daisy", "Maya", "Zara", "Aisha", "Amira",
         "Hana", "Layla", "Nia", "Eliza", "Phoebe", "Esme", "Thea", "Orla", "Maisie")
BOYS = ("Oliver", "George", "Noah", "Arthur", "Leo", "Harry", "Oscar", "Jack", "Alfie", "Charlie",
        "Freddie", "Theo", "Archie", "Finley", "Jacob", "Reuben", "Mason", "Ethan", "Zain", "Yusuf",
        "Kian", "Tyler", "Callum", "Rhys", "Kai", "Ibrahim", "Dylan", "Samuel", "Max", "Toby")
WOMEN = ("Sarah", "Emma", "Laura", "Gemma", "Kelly", "Jodie", "Stacey", "Hayley", "Leanne", "Natalie",
         "Amy", "Rebecca", "Kerry", "Nadia", "Fatima", "Shauna", "Chantelle", "Donna", "Michelle", "Joanne")
MEN = ("Craig", "Lee", "Darren", "Wayne", "Dean", "Jason", "Scott", "Ryan", "Carl", "Gary", "Stuart",
       "Mark", "Imran", "Tariq", "Marcus", "Jamal", "Paul", "Steven", "Adam", "Liam")
SURNAMES = ("Abbott", "Barker", "Bennett", "Booth", "Carter", "Cole", "Dawson", "Fletcher", "Foster",
            "Gill", "Hale", "Harper", "Holt", "Hussain", "Jarvis", "Kaur", "Lowe", "Marsh", "Mensah",
            "Nash", "Osei", "Parkin", "Quinn", "Rahman", "Reid", "Shaw", "Slater", "Thorne", "Turner",
            "Walsh", "Webb", "Yates", "Ahmed", "Begum", "Kowalski", "Nowak", "Okafor", "Patel",
            "Murphy", "Doyle")
# DfE ethnicity codes (aggregates.vocabulary.Ethnicity), weighted roughly like an English
# early help caseload.
ETHNICITY_WEIGHTS = {
    "WBRI": 62, "WIRI": 1, "WIRT": 0.5, "WOTH": 6, "WROM": 1, "MWBC": 2, "MWBA": 1, "MWAS": 1.5,
    "MOTH": 2, "AIND": 2.5, "APKN": 3, "ABAN": 2, "AOTH": 1.5, "BCRB": 1.5, "BAFR": 4, "BOTH": 1,
    "CHNE": 0.5, "OOTH": 1.5, "REFU": 1, "NOBT": 3,
}
MIXED = ("MWBC", "MWBA", "MWAS", "MOTH")

SCHOOLS = ("Hillside Primary School", "Meadow Lane Academy", "St Anne's CE Primary", "Brookfield Academy",
           "Oakwood Secondary School", "Riverside Infant School", "Park View Academy")
AGENCIES = {
    "school": SCHOOLS,
    "health visitor": ("Riverside Health Visiting Team", "North Locality Health Visitors"),
    "police": ("Police (MASH notification)",),
    "gp": ("Northgate Medical Practice", "Castle Street Surgery"),
    "housing": ("Housing Options", "Homes and Tenancy Team"),
    "health": ("Community Paediatrics", "CAMHS Single Point of Access"),
    "other": ("Neighbourhood Team", "Children's Centre"),
}
REFERRALS = (
    # (reason, referring agency, route, the reason's broad category: the SSD's earl_episode_reason)
    ("School worried about attendance and a tired, hungry child", "school", "professional",
     "child_wellbeing_development"),
    ("Mother asking for help with her teenager's behaviour at home", None, "parent_or_carer",
     "parenting_family_dynamics"),
    ("Health visitor concerned about home conditions and the baby's weight", "health visitor", "professional",
     "child_abuse_neglect"),
    ("Police notification: argument between the parents with the children present", "police", "front_door",
     "domestic_abuse"),
    ("Parent struggling with low mood and the children's routines", "gp", "professional", "mental_health"),
    ("Young person missing school and staying out late", "school", "professional", "child_wellbeing_development"),
    ("Family in temporary accommodation with rent arrears", "housing", "partner", "socio_economic"),
    ("Child's anxiety and refusal to attend school", "school", "professional", "mental_health"),
    ("Parental alcohol use affecting the children's routines", "gp", "front_door", "alcohol_substance_misuse"),
    ("Father asking for parenting support after separation", None, "self", "information_support"),
    ("Child with additional needs; parents exhausted and asking for support", "health", "professional",
     "disabilities_illness"),
    ("Neighbour concerns: shouting, children often unsupervised", "other", "front_door", None),
)
"""The last referral's category is left out: a referral may record none (its SSD row's
reason is then blank)."""
OUTCOMES = ("Children attend school every day", "Calmer bedtimes and morning routines",
            "Mum feels able to manage the children's behaviour", "Home is safe and warm",
            "Rent arrears repaid and tenancy secure", "Parents communicate without arguing in front of the children",
            "Young person home by the agreed time", "Family linked to the Family Hub groups")
NOTES = ("{c} said school is 'better now' and showed a reading certificate",
         "{c} was quiet and did not want to talk about home",
         "{c} described arguments at home and feeling worried",
         "{c} has been sleeping better since the new routine",
         "Teacher reports {c} arriving late and without breakfast",
         "{c} enjoyed the Family Hub group and wants to go again")
ATTENDEES = ("school", "health visitor", "school nurse", "GP", "housing officer", "youth worker",
             "CAMHS practitioner", "nursery key person")

